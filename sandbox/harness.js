// Runs inside the sandbox (passed to node -e): reads one job frame, runs the learner's code.
// Reports on the fd named by the last argument, one JSON line each: {"ready"}, one per call,
// {"exit"}. The learner's stdin follows the frame on fd 0.
// One function scope: none of the harness's names collide with the learner's globals.
(function harness() {
  'use strict';
  const fs = require('fs');
  const vm = require('vm');

  const REPORT = Number(process.argv[process.argv.length - 1]);
  const LEARNER_FILE = 'main.js';
  // bound early: learner code may replace them
  const writeSync = fs.writeSync;
  const readSync = fs.readSync;
  const stringify = JSON.stringify;
  const exit = process.exit.bind(process);
  let status = 0;
  let hint = '';

  function line(text) {
    const data = Buffer.from(text + '\n');
    let sent = 0;
    while (sent < data.length) sent += writeSync(REPORT, data, sent, data.length - sent);
  }

  function readExact(size) {
    const data = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      let count;
      try {
        count = readSync(0, data, got, size - got, null);
      } catch (error) {
        if (error.code === 'EAGAIN') continue;
        throw error;
      }
      if (count === 0) throw new Error('job frame cut short');
      got += count;
    }
    return data;
  }

  function summary(error) {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return `Uncaught ${String(error)}`;
  }

  function showError(error) {
    let text = error instanceof Error && error.stack ? error.stack : `Uncaught ${String(error)}`;
    // the harness's own frames are noise to the learner
    const own = (l) => /^\s+at /.test(l) && (l.includes('[eval]') || l.includes('node:'));
    text = text.split('\n').filter((l) => !own(l)).join('\n');
    try {
      writeSync(2, text + '\n');
    } catch (ignored) {
      // the learner closed stderr
    }
    if (error instanceof RangeError && /memory|allocation/i.test(error.message)) hint = 'memory';
    if (error && (error.code === 'ENOSPC' || error.code === 'EFBIG' || error.code === 'EDQUOT')) {
      hint = 'disk';
    }
  }

  function result(name, value) {
    let text;
    try {
      text = stringify({ name, ok: true, value: value === undefined ? null : value });
    } catch (error) {
      failure(name, `TypeError: result is not JSON-serialisable (${typeof value})`);
      return;
    }
    line(text);
  }

  function failure(name, error) {
    line(stringify({ name, ok: false, error }));
  }

  function compile(code) {
    globalThis.require = require;
    globalThis.module = { exports: {} };
    return vm.runInThisContext(code, { filename: LEARNER_FILE });
  }

  async function runCalls(job) {
    let setupError = '';
    try {
      compile(job.code);
    } catch (error) {
      showError(error);
      status = 1;
      setupError = summary(error);
    }
    if (!/^[A-Za-z_$][\w$]*$/.test(job.function)) throw new Error('bad function name');
    for (const call of job.calls) {
      if (setupError) {
        failure(call.name, setupError);
        continue;
      }
      try {
        const found = vm.runInThisContext(`typeof ${job.function} === 'function' ? ${job.function} : undefined`);
        const fn = found || globalThis.module.exports[job.function] || globalThis.module.exports;
        if (typeof fn !== 'function') throw new ReferenceError(`${job.function} is not defined`);
        result(call.name, await fn(...call.args));
      } catch (error) {
        showError(error);
        failure(call.name, summary(error));
      }
    }
  }

  function main() {
    line('{"ready": true}');
    const size = readExact(4).readUInt32BE(0);
    const job = JSON.parse(readExact(size).toString('utf8'));
    process.on('uncaughtException', (error) => {
      showError(error);
      status = 1;
      exit(1);
    });
    process.on('unhandledRejection', (error) => {
      showError(error);
      status = 1;
      exit(1);
    });
    process.on('exit', (code) => {
      line(`{"exit": ${status || code || 0}, "hint": "${hint}"}`);
    });
    if (job.calls.length) {
      runCalls(job).then(() => exit(status), (error) => {
        showError(error);
        exit(1);
      });
      return;
    }
    try {
      compile(job.code);
    } catch (error) {
      showError(error);
      status = 1;
      exit(1);
    }
  }

  main();
})();
