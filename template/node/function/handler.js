'use strict'

// Answer one call. event: body (a string; parsed JSON when the Content-Type is JSON),
// headers (lower-case names), method, path, query. Return context.status(code).succeed(body),
// or just a body (a string, a Buffer, or an object sent as JSON).
module.exports = async (event, context) => {
  const said = typeof event.body === 'string' ? event.body : JSON.stringify(event.body)
  return context
    .status(200)
    .headers({ 'Content-Type': 'text/plain' })
    .succeed('Hello from node! You said: ' + said)
}
