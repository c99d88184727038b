#!/bin/sh
# Answer one call: the request body is on standard input, standard output is the answer.
printf 'Hello from dockerfile! You said: '
cat
