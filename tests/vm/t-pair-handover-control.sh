#!/bin/bash
# vm-timeout: 240
# Control of t-pair-handover.sh: the same planned switchover without
# vpnpt mux import. The tunnel whose peer speaks first must stay dead on B;
# if it ever recovers, the import proves nothing.
HANDOVER=control
. "$VPNPT_VM_TESTS/t-pair-handover.sh"
