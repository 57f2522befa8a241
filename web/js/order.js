// Exactly-once order for one session's events, by (epoch, seq), shared by the learner's page
// and the watch view. While a session.join is in flight events are buffered; the caller
// decides what they mean once the reply is in (see session.js).

export class EventOrder {
  constructor() {
    this.reset();
  }

  reset() {
    this.epoch = null;
    this.seq = 0;
    this.joining = false;
    this.buffer = [];
  }

  /** Forget the position, so the next join asks for a snapshot. */
  restart() {
    this.epoch = null;
    this.seq = 0;
  }

  /** What a re-join passes as `since` (null before the first snapshot). */
  get since() {
    return this.epoch != null ? { epoch: this.epoch, seq: this.seq } : null;
  }

  startJoin() {
    this.joining = true;
    this.buffer = [];
  }

  /** The join is over: the events that came meanwhile, in seq order. */
  endJoin() {
    const buffered = this.buffer.sort((a, b) => a.seq - b.seq);
    this.joining = false;
    this.buffer = [];
    return buffered;
  }

  /** The position a snapshot stands at. */
  settle(epoch, seq) {
    this.epoch = epoch;
    this.seq = Number(seq) || 0;
  }

  /**
   * Where an event of this session goes: 'apply' (the position moves on to it), 'resync' (another
   * epoch: the server lost its history), or null (buffered, already applied, or not joined yet).
   */
  accept(ev) {
    if (this.joining) {
      this.buffer.push(ev);
      return null;
    }
    if (this.epoch == null) return null; // not joined: the join's snapshot will cover it
    if (ev.epoch !== this.epoch) return 'resync';
    if (!(ev.seq > this.seq)) return null; // already applied (replay overlap)
    this.seq = ev.seq;
    return 'apply';
  }

  /** Hands an event to `apply` when it is next, or calls `resync` when its epoch is another. */
  deliver(ev, apply, resync) {
    const verdict = this.accept(ev);
    if (verdict === 'resync') resync();
    if (verdict !== 'apply') return;
    try {
      apply(ev);
    } catch (err) {
      console.error('failed to apply event', ev, err);
    }
  }
}
