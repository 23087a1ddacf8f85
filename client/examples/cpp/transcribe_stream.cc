// Streams a 16-bit PCM WAV file to voxserve's StreamingRecognize in 100 ms chunks, as a live
// microphone would, and prints speech events, interim results and one final result per utterance.
//
//   ./transcribe_stream speech.wav [host:port]
#include <cctype>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "voxserve/v1/recognizer.grpc.pb.h"

namespace v1 = voxserve::v1;

constexpr int kChunkMs = 100;

struct Wav {
  int rate_hz = 0;
  int channels = 0;
  std::string pcm;  // 16-bit little-endian samples, channels interleaved
};

uint32_t ReadLE(const std::string& data, size_t at, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(data[at + i]);
  return value;
}

// The samples of a RIFF/WAVE file's `data` chunk and the layout its `fmt ` chunk declares.
Wav ReadWav(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (data.size() < 12 || data.compare(0, 4, "RIFF") != 0 || data.compare(8, 4, "WAVE") != 0) {
    throw std::runtime_error(path + " is not a WAV file");
  }
  Wav wav;
  for (size_t at = 12; at + 8 <= data.size();) {
    const std::string id = data.substr(at, 4);
    const size_t size = ReadLE(data, at + 4, 4);
    const size_t body = at + 8;
    if (id == "fmt ") {
      wav.channels = ReadLE(data, body + 2, 2);
      wav.rate_hz = ReadLE(data, body + 4, 4);
      if (ReadLE(data, body + 14, 2) != 16) throw std::runtime_error(path + " is not 16-bit");
    } else if (id == "data" && wav.rate_hz > 0) {
      // Streamed WAVs (espeak-ng --stdout) leave the size at 0xFFFFFFFF: substr stops at the end.
      wav.pcm = data.substr(body, size);
      return wav;
    }
    at = body + size + size % 2;  // chunks are padded to even sizes
  }
  throw std::runtime_error(path + " has no fmt and data chunks");
}

void Show(const v1::StreamingRecognizeResponse& response) {
  if (response.has_speech_event()) {
    const v1::SpeechEvent& event = response.speech_event();
    const std::string prefix = "SPEECH_EVENT_TYPE_";
    std::string name = v1::SpeechEventType_Name(event.type()).substr(prefix.size());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::cout << "event   #" << event.utterance_index() << " " << name << " at "
              << event.offset_ms() << " ms" << std::endl;
  } else if (response.has_result()) {
    const v1::StreamingRecognitionResult& r = response.result();
    std::cout << (r.is_final() ? "final   #" : "interim #") << r.utterance_index() << " ["
              << r.start_offset_ms() << "-" << r.end_offset_ms() << " ms]: " << r.transcript()
              << std::endl;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: transcribe_stream speech.wav [host:port]" << std::endl;
    return 2;
  }
  Wav wav;
  try {
    wav = ReadWav(argv[1]);
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return 1;
  }
  const std::string target = argc > 2 ? argv[2] : "localhost:50051";
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto recognizer = v1::Recognizer::NewStub(channel);

  grpc::ClientContext context;
  auto stream = recognizer->StreamingRecognize(&context);

  // One thread writes the audio while this one reads results as they come.
  std::thread writer([&] {
    // The first message says how to read the audio; every later one carries audio only.
    v1::StreamingRecognizeRequest first;
    v1::StreamingRecognitionConfig* streaming = first.mutable_streaming_config();
    streaming->set_interim_results(true);
    streaming->mutable_config()->set_encoding(v1::AUDIO_ENCODING_LINEAR16);
    streaming->mutable_config()->set_sample_rate_hz(wav.rate_hz);
    streaming->mutable_config()->set_audio_channel_count(wav.channels);
    bool open = stream->Write(first);
    const size_t chunk_frames = static_cast<size_t>(wav.rate_hz) * kChunkMs / 1000;
    const size_t chunk_bytes = chunk_frames * wav.channels * 2;  // whole 16-bit frames
    for (size_t at = 0; open && at < wav.pcm.size(); at += chunk_bytes) {
      v1::StreamingRecognizeRequest request;
      request.set_audio_content(wav.pcm.substr(at, chunk_bytes));
      open = stream->Write(request);  // false: the call is over, Finish() says why
      // Paced like a microphone. Sent faster, the finals are the same but the server, busy
      // catching up, skips interim results that newer audio has already made stale.
      std::this_thread::sleep_for(std::chrono::milliseconds(kChunkMs));
    }
    stream->WritesDone();  // half-close: the server flushes the last utterance, then ends the call
  });

  v1::StreamingRecognizeResponse response;
  while (stream->Read(&response)) Show(response);
  writer.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    std::cerr << "error: " << status.error_message() << std::endl;
    return 1;
  }
  return 0;
}
