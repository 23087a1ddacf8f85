"""Client audio: decoding recordings and raw chunks, sample codecs and resampling to 16 kHz."""
