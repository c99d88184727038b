'use strict'
// The node template's server: the watchdog (mode=http) starts it once and proxies every
// call to it, so the handler stays warm between calls. Node's own http module only: the
// image needs nothing from the npm registry.
const http = require('http')
const os = require('os')
const handler = require('./function/handler')

const DEFAULT_PORT = 5000

class Context {
  constructor () {
    this.hostname = os.hostname()
    this.statusCode = 200
    this.headerValues = {}
    this.result = undefined
    this.error = undefined
  }

  status (code) { this.statusCode = code; return this }
  headers (values) { Object.assign(this.headerValues, values); return this }
  succeed (result) { this.result = result; return this }
  fail (error) { this.statusCode = 500; this.error = error; return this }
}

function parseBody (raw, contentType) {
  const text = raw.toString('utf8')
  if (/^application\/(.+\+)?json/i.test(contentType || '') && text.length > 0) {
    return JSON.parse(text)
  }
  return text
}

// (status, headers, body Buffer) from what the handler returned: its context, or a body.
function reply (returned, context) {
  const result = returned === context ? context.result : returned
  const headers = Object.assign({}, context.headerValues)
  let body = result
  if (context.error !== undefined) {
    body = String(context.error)
  } else if (body === undefined || body === null) {
    body = Buffer.alloc(0)
  } else if (typeof body === 'object' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body)
    const named = Object.keys(headers).some(n => n.toLowerCase() === 'content-type')
    if (!named) headers['Content-Type'] = 'application/json'
  }
  return [context.statusCode, headers, Buffer.isBuffer(body) ? body : Buffer.from(String(body))]
}

async function answer (request, raw) {
  const url = new URL(request.url, 'http://function')
  const context = new Context()
  let body
  try {
    body = parseBody(raw, request.headers['content-type'])
  } catch (error) {
    return [400, { 'Content-Type': 'text/plain' }, Buffer.from('invalid JSON body\n')]
  }
  const event = {
    body,
    headers: request.headers,
    method: request.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams)
  }
  return reply(await handler(event, context), context)
}

const server = http.createServer((request, response) => {
  const chunks = []
  request.on('data', chunk => chunks.push(chunk))
  request.on('end', () => {
    answer(request, Buffer.concat(chunks))
      .catch(error => {
        console.error(error)
        return [500, { 'Content-Type': 'text/plain' }, Buffer.from('handler error\n')]
      })
      .then(([status, headers, body]) => {
        headers['Content-Length'] = body.length
        response.writeHead(status, headers)
        response.end(request.method === 'HEAD' ? undefined : body)
      })
  })
})
server.keepAliveTimeout = 65000

let port = DEFAULT_PORT
try {
  port = Number(new URL(process.env.upstream_url).port) || DEFAULT_PORT
} catch (error) {}
server.listen(port, '127.0.0.1')
