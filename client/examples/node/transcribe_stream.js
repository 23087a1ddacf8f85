#!/usr/bin/env node
// Streams a 16-bit PCM WAV file to voxserve's StreamingRecognize in 100 ms chunks, as a live
// microphone would, and prints speech events, interim results and one final result per utterance.
// When a replica drains (the call ends UNAVAILABLE with x-voxserve-resume-* trailers) or is lost,
// it resumes on the next address as docs/clients.md describes: a new stream whose config names
// the resume point, fed the audio kept since the last final (at most a minute of it).
//
//   node transcribe_stream.js speech.wav [host:port[,host:port...]]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { once } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const CHUNK_MS = 100;
const MAX_REPLAY_MS = 60000; // three times the server's longest utterance (20 s)
const MAX_ATTEMPTS = 5; // calls in a row that end without a final before giving up
const BACKOFF_MS = 500; // doubled after each failed try, with jitter
const PROTOS_DIR = process.env.VOXSERVE_PROTOS || path.join(__dirname, '..', '..', '..', 'protos');

// Fields keep their proto names (sample_rate_hz), int64 becomes Number, enums are their names,
// and `streaming_response` names whichever oneof member is set.
const definition = protoLoader.loadSync('voxserve/v1/recognizer.proto', {
  includeDirs: [PROTOS_DIR], keepCase: true, longs: Number, enums: String, defaults: true,
  oneofs: true,
});
const { voxserve } = grpc.loadPackageDefinition(definition);

// The samples of a RIFF/WAVE file's `data` chunk and the layout its `fmt ` chunk declares.
function readWav(file) {
  const data = fs.readFileSync(file);
  if (data.toString('latin1', 0, 4) !== 'RIFF' || data.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error(`${file} is not a WAV file`);
  }
  let format = null;
  for (let at = 12; at + 8 <= data.length;) {
    const id = data.toString('latin1', at, at + 4);
    const size = data.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      format = { channels: data.readUInt16LE(body + 2), rateHz: data.readUInt32LE(body + 4),
        bits: data.readUInt16LE(body + 14) };
    } else if (id === 'data' && format) {
      if (format.bits !== 16) throw new Error(`${file} has ${format.bits}-bit samples, not 16`);
      // Streamed WAVs (espeak-ng --stdout) leave the size at 0xFFFFFFFF: read to the end.
      return { ...format, pcm: data.subarray(body, Math.min(body + size, data.length)) };
    }
    at = body + size + (size % 2); // chunks are padded to even sizes
  }
  throw new Error(`${file} has no fmt and data chunks`);
}

function show(response) {
  if (response.streaming_response === 'speech_event') {
    const { type, offset_ms, utterance_index } = response.speech_event;
    const name = type.replace('SPEECH_EVENT_TYPE_', '').toLowerCase();
    console.log(`event   #${utterance_index} ${name} at ${offset_ms} ms`);
  } else {
    const r = response.result;
    const label = r.is_final ? 'final  ' : 'interim';
    const span = `[${r.start_offset_ms}-${r.end_offset_ms} ms]`;
    console.log(`${label} #${r.utterance_index} ${span}: ${r.transcript}`);
  }
}

// Where the dictation stands: the audio is kept from `keptFrom` (bytes of the file, the end of
// the last final) and `nextUtterance` is one past the last final's index.
function trackFinals(state, wav) {
  const frameBytes = wav.channels * 2;
  return (response) => {
    show(response);
    const r = response.result;
    if (response.streaming_response !== 'result' || !r.is_final) return;
    const end = Math.floor(r.end_offset_ms * wav.rateHz / 1000) * frameBytes;
    state.keptFrom = Math.max(state.keptFrom, end);
    state.nextUtterance = r.utterance_index + 1;
  };
}

// One StreamingRecognize call: the config (with the resume point), the kept audio at once,
// then the rest of the file paced like a microphone. Resolves when the server ends the call OK.
async function streamOnce(target, wav, state) {
  const recognizer = new voxserve.v1.Recognizer(target, grpc.credentials.createInsecure());
  try {
    const call = recognizer.StreamingRecognize();
    call.on('data', trackFinals(state, wav));
    const ended = once(call, 'status'); // rejects on 'error', which carries the failed status
    const bytesPerMs = wav.rateHz * wav.channels * 2 / 1000;
    // The first message says how to read the audio and where it starts in the dictation;
    // every later one carries audio only.
    call.write({
      streaming_config: {
        config: { encoding: 'AUDIO_ENCODING_LINEAR16', sample_rate_hz: wav.rateHz,
          audio_channel_count: wav.channels },
        interim_results: true,
        resume_offset_ms: Math.round(state.keptFrom / bytesPerMs),
        resume_utterance_index: state.nextUtterance,
      },
    });
    const chunkBytes = Math.floor(wav.rateHz * CHUNK_MS / 1000) * wav.channels * 2;
    for (let at = state.keptFrom; at < wav.pcm.length; at += chunkBytes) {
      if (!call.write({ audio_content: wav.pcm.subarray(at, at + chunkBytes) })) {
        await Promise.race([once(call, 'drain'), ended]); // gRPC flow control: wait for room
      }
      if (at + chunkBytes > state.sent) { // new audio: paced like a microphone
        state.sent = at + chunkBytes;
        // Bounded replay: audio older than MAX_REPLAY_MS is not kept.
        const oldest = state.sent - Math.floor(MAX_REPLAY_MS * bytesPerMs);
        state.keptFrom = Math.max(state.keptFrom, oldest - (oldest % (wav.channels * 2)));
        await Promise.race([sleep(CHUNK_MS), ended]); // `ended` rejects at once on failure
      }
    }
    call.end(); // half-close: the server flushes the last utterance, then ends the call
    await ended;
  } finally {
    recognizer.close();
  }
}

async function main(file, targets = 'localhost:50051') {
  const wav = readWav(file);
  const addresses = targets.split(',');
  const state = { keptFrom: 0, nextUtterance: 0, sent: 0 };
  for (let attempt = 0, failures = 0; ; attempt += 1) {
    const before = state.nextUtterance;
    try {
      await streamOnce(addresses[attempt % addresses.length], wav, state);
      return;
    } catch (error) {
      failures = state.nextUtterance > before ? 1 : failures + 1;
      if (error.code !== grpc.status.UNAVAILABLE || failures >= MAX_ATTEMPTS) throw error;
      // A draining server names the resume point; it is where our own tracking says.
      const offset = error.metadata?.get('x-voxserve-resume-offset-ms')[0];
      console.log(`resuming: ${error.details}${offset === undefined ? '' : ` (${offset} ms)`}`);
      if (failures > 1) await sleep(Math.random() * BACKOFF_MS * 2 ** (failures - 2));
    }
  }
}

if (process.argv.length < 3) {
  console.error('usage: node transcribe_stream.js speech.wav [host:port[,host:port...]]');
  process.exit(2);
}
main(...process.argv.slice(2)).catch((error) => {
  console.error(`error: ${error.details ?? error.message}`);
  process.exit(1);
});
