#!/usr/bin/env bash
# Answer one call: the request body is on standard input; what this writes to standard
# output is the answer, streamed as it comes. A non-zero exit is a 500. Request metadata is
# in the environment: Http_Method, Http_Path, Http_Query, Http_<Header_Name>.
set -euo pipefail
printf 'Hello from bash-streaming! You said: '
cat
