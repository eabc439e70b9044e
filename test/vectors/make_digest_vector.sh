#!/usr/bin/env bash
# Writes test/vectors/digest.json with values computed by `cast` (independent of the contracts), in the
# shared format (interfaces point 4). The inference crate writes the same file from its own canonical
# result; this script is the contracts side's stand-in until then. Seal v2 binds the worker's sketch
# (SketchRule layout): here a header-only placeholder of 70 bytes (status 0, model and input sha256
# zero, count 0, grid 64x48); the forge test reads "sketch" and "sketchHash" from the file, so a real
# sketch from Rust replaces it without a change there. Usage: test/vectors/make_digest_vector.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
TASK_ID=42
WORKER=0x70997970c51812dc3a010c7d01b50e0d17dc79c8
SUMMARY=$(cast abi-encode "f((uint8,uint16,uint16,(uint16,uint16,uint16,uint16,uint16,uint16,uint32)[]))" \
  "(0,64,48,[(1,9000,3,4,20,30,250),(2,7500,10,5,40,45,600)])")
RESULT_SHA256=0x$(printf 'maskoracle digest test vector: canonical result bytes' | sha256sum | cut -d' ' -f1)
# status u8 | model_sha256 [32] | input_sha256 [32] | count u8 | grid_width u16 | grid_height u16
SKETCH=0x00$(printf '%064d' 0)$(printf '%064d' 0)00$(printf '%04x' 64)$(printf '%04x' 48)
SKETCH_HASH=$(cast keccak "$SKETCH")
SUMMARY_HASH=$(cast keccak "$SUMMARY")
DIGEST=$(cast keccak "$(cast abi-encode 'f(bytes32,bytes32)' "$SUMMARY_HASH" "$RESULT_SHA256")")
RESULT_HASH=$(cast keccak "$(cast abi-encode 'f(uint256,bytes32)' "$TASK_ID" "$DIGEST")")
RESULT_SEAL=$(cast keccak "$(cast abi-encode 'f(address,uint256,bytes32,bytes32)' "$WORKER" "$TASK_ID" "$DIGEST" "$SKETCH_HASH")")
cat > digest.json <<JSON
{"taskId": "$TASK_ID", "worker": "$WORKER", "summary": "$SUMMARY", "resultSha256": "$RESULT_SHA256",
 "summaryHash": "$SUMMARY_HASH", "digest": "$DIGEST", "resultHash": "$RESULT_HASH",
 "sketch": "$SKETCH", "sketchHash": "$SKETCH_HASH", "resultSeal": "$RESULT_SEAL",
 "status": 0, "width": 64, "height": 48, "detections": 2}
JSON
