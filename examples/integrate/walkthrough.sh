#!/usr/bin/env bash
# docs/integrate.md, section 4: run in this project's folder with RPC, HUB, MODEL, PHOTO, KEY and
# the MASKORACLE_* line of `maskoracle devnet --keep` exported.
set -euo pipefail
forge build
forge test -vv --match-test CallbackGas        # prints the hook's gas for 1 and 16 detections

CID=$(maskoracle ipfs add --cid-version 1 "$PHOTO")   # into the devnet's IPFS node
COUNTER=$(forge script script/Deploy.s.sol --sig "run(address,uint32,uint256)" "$HUB" "$MODEL" \
  100000000000000000000 --rpc-url "$RPC" --private-key "$KEY" --broadcast | awk '/DetectionCounter 0x/ {print $2}')
ask() { # callback gas -> task id
  forge script script/Ask.s.sol --sig "run(address,string,uint96,uint24)" "$COUNTER" "$CID" \
    10000000000000000000 "$1" --rpc-url "$RPC" --private-key "$KEY" --broadcast | awk '/task [0-9]/ {print $2}'
}
settled() { # task id: wait for Finalized (3) or Failed (4)
  for _ in $(seq 300); do
    status=$(cast call "$HUB" "taskState(uint256)(uint8,uint8)" "$1" --rpc-url "$RPC" | head -1)
    if [ "$status" -ge 3 ]; then return 0; fi
    sleep 1
  done
  echo "task $1 did not settle" >&2; return 1
}
TASK=$(ask 150000)
LOW=$(ask 30000)                                  # too little gas for the callback
settled "$TASK"; settled "$LOW"
cast call "$COUNTER" "outcomes(uint256)(bool,bool,uint8,uint16,bytes32)" "$TASK" --rpc-url "$RPC"
cast call "$COUNTER" "outcomes(uint256)(bool,bool,uint8,uint16,bytes32)" "$LOW" --rpc-url "$RPC"  # done = false

forge script script/Recover.s.sol --sig "run(address,uint256)" "$COUNTER" "$LOW" \
  --rpc-url "$RPC" --private-key "$KEY" --broadcast
cast call "$COUNTER" "outcomes(uint256)(bool,bool,uint8,uint16,bytes32)" "$LOW" --rpc-url "$RPC"  # done = true

SHA=$(cast call "$COUNTER" "outcomes(uint256)(bool,bool,uint8,uint16,bytes32)" "$TASK" --rpc-url "$RPC" | tail -1)
maskoracle ipfs cat "$SHA" > result.bin           # the canonical result (docs/inference.md)
sha256sum result.bin                              # = resultSha256
echo "COUNTER=$COUNTER TASK=$TASK LOW=$LOW SHA=$SHA"
