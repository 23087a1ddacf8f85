#!/usr/bin/env node
// Streams a 16-bit PCM WAV file to voxserve's StreamingRecognize in 100 ms chunks, as a live
// microphone would, and prints speech events, interim results and one final result per utterance.
//
//   node transcribe_stream.js speech.wav [host:port]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { once } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const CHUNK_MS = 100;
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

async function main(file, target = 'localhost:50051') {
  const wav = readWav(file);
  const recognizer = new voxserve.v1.Recognizer(target, grpc.credentials.createInsecure());
  const call = recognizer.StreamingRecognize();
  call.on('data', show);
  const ended = once(call, 'status'); // rejects on 'error', which carries the failed status

  // The first message says how to read the audio; every later one carries audio only.
  call.write({
    streaming_config: {
      config: { encoding: 'AUDIO_ENCODING_LINEAR16', sample_rate_hz: wav.rateHz,
        audio_channel_count: wav.channels },
      interim_results: true,
    },
  });
  const chunkBytes = Math.floor(wav.rateHz * CHUNK_MS / 1000) * wav.channels * 2; // whole frames
  for (let at = 0; at < wav.pcm.length; at += chunkBytes) {
    if (!call.write({ audio_content: wav.pcm.subarray(at, at + chunkBytes) })) {
      await Promise.race([once(call, 'drain'), ended]); // gRPC flow control: wait for room
    }
    // Paced like a microphone. Sent faster, the finals are the same but the server, busy
    // catching up, skips interim results that newer audio has already made stale.
    await Promise.race([sleep(CHUNK_MS), ended]); // `ended` rejects at once if the call fails
  }
  call.end(); // half-close: the server flushes the last utterance, then ends the call
  await ended;
  recognizer.close();
}

if (process.argv.length < 3) {
  console.error('usage: node transcribe_stream.js speech.wav [host:port]');
  process.exit(2);
}
main(...process.argv.slice(2)).catch((error) => {
  console.error(`error: ${error.details ?? error.message}`);
  process.exit(1);
});
