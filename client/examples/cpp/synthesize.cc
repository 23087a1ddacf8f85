// Speaks a text with voxserve's Synthesize and writes the audio to a WAV file.
//
//   ./synthesize "Hello from voxserve." hello.wav [host:port]
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "voxserve/v1/synthesizer.grpc.pb.h"

namespace v1 = voxserve::v1;

constexpr std::chrono::seconds kDeadline{60};

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: synthesize \"text to speak\" out.wav [host:port]" << std::endl;
    return 2;
  }
  const std::string path = argv[2];
  const std::string target = argc > 3 ? argv[3] : "localhost:50051";
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto synthesizer = v1::Synthesizer::NewStub(channel);

  v1::SynthesizeRequest request;
  request.set_text(argv[1]);
  // voice "" is the server's default voice (see Models.ListModels for the others); WAV asks for a
  // complete file rather than raw samples.
  request.mutable_config()->set_voice("");
  request.mutable_config()->set_container(v1::AUDIO_CONTAINER_WAV);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  v1::SynthesizeResponse response;
  const grpc::Status status = synthesizer->Synthesize(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "error: " << status.error_message() << std::endl;
    return 1;
  }
  std::ofstream file(path, std::ios::binary);
  if (!(file << response.audio_content())) {
    std::cerr << "error: cannot write " << path << std::endl;
    return 1;
  }
  std::cout << path << ": " << response.audio_duration_ms() << " ms at "
            << response.sample_rate_hz() << " Hz, voice " << response.voice() << std::endl;
  return 0;
}
