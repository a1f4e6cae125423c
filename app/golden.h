/* viewfinder-cli golden: compares what the engine produces with reference case folders
 * (../shared/golden format: case.json + tensors.safetensors, tokenizer cases, chat-template cases). */
#pragma once

int vf_cli_golden(int argc, char **argv);
