#!/usr/bin/env node
// Speaks a text with voxserve's Synthesize and writes the audio to a WAV file.
//
//   node synthesize.js "Hello from voxserve." hello.wav [host:port]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const DEADLINE_S = 60;
const PROTOS_DIR = process.env.VOXSERVE_PROTOS || path.join(__dirname, '..', '..', '..', 'protos');

// Fields keep their proto names (sample_rate_hz), int64 becomes Number, enums are their names.
const definition = protoLoader.loadSync('voxserve/v1/synthesizer.proto', {
  includeDirs: [PROTOS_DIR], keepCase: true, longs: Number, enums: String, defaults: true,
});
const { voxserve } = grpc.loadPackageDefinition(definition);

function main(text, file, target = 'localhost:50051') {
  const synthesizer = new voxserve.v1.Synthesizer(target, grpc.credentials.createInsecure());
  const request = {
    text,
    // voice "" is the server's default voice (see Models.ListModels for the others); WAV asks
    // for a complete file rather than raw samples.
    config: { voice: '', container: 'AUDIO_CONTAINER_WAV' },
  };
  const deadline = new Date(Date.now() + DEADLINE_S * 1000);
  synthesizer.Synthesize(request, { deadline }, (error, response) => {
    synthesizer.close();
    if (error) {
      console.error(`error: ${error.details}`);
      process.exit(1);
    }
    fs.writeFileSync(file, response.audio_content);
    console.log(`${file}: ${response.audio_duration_ms} ms at ${response.sample_rate_hz} Hz, ` +
      `voice ${response.voice}`);
  });
}

if (process.argv.length < 4) {
  console.error('usage: node synthesize.js "text to speak" out.wav [host:port]');
  process.exit(2);
}
main(...process.argv.slice(2));
