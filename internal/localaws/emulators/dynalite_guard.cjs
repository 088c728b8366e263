// Loaded into dynalite with `node --require`. dynalite throws from a
// request's 'error' event (index.js: req.on('error', function (err) { throw
// err })), so a client that hangs up half way through sending a request
// stops the emulator. DynamoDB drops such a request and serves the next;
// with this, so does dynalite. Any other uncaught error still ends the
// process, as Node's default does.
'use strict'
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET' && err.message === 'aborted') {
    return
  }
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
