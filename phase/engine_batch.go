package phase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// batch is one batch of a folder's messages on its way over a lane, in the
// exactly-once order: each message's intent is committed before its
// APPEND, and its outcome after.
//
// Small messages are gathered and stored with one command per group where
// the target can (MULTIAPPEND): one transaction on the server instead of
// one per message. Groups are stored, and their outcomes written to the
// state, by writers of their own while the next group is fetched. Large
// messages stream through one by one once the writers are idle, so that
// the lane's own target connection is never used by two at once.
type batch struct {
	s     *session
	c     conns
	e     mapping.Entry
	sf    mailbox.Folder
	chunk []mailbox.Message
	lt    *laneTarget
	// first is the target folder as the batch found it (UIDNEXT: where
	// copies of this batch start).
	first mailbox.Folder

	batcher target.BatchAppender // nil: the target stores one message per command
	lim     *throttle.Limiter
	sum     hash.Hash // one per batch, reset for each message
	seen    map[string]bool

	// What the intents record of the target folder: its UIDVALIDITY and a
	// lower bound of its UIDNEXT, both as the last APPENDUID says (read by
	// the fetch callback while the group writers set them).
	validity, low atomic.Uint32

	mu       sync.Mutex // guards what the group writers and the fetch callback record
	st       copyStats
	recorded []state.Pair // outcomes not yet written to the state
	uidless  []state.Pair // copies whose UID is to be found by content (no UIDPLUS)

	// dropped is set when a connection dropped while a message or group
	// was being stored: the lane's groups shrink before the next attempt.
	dropped atomic.Bool

	dstMu sync.Mutex // the lane's own target connection, for refused groups
	gw    *groupWriter
	group []heldMessage // the group being gathered, its bodies in arena
	arena []byte
}

// copyBatch appends one batch of a folder's messages over the lane c. It
// also tells whether a connection dropped while storing.
func (s *session) copyBatch(ctx context.Context, c conns, e mapping.Entry, sf mailbox.Folder, chunk []mailbox.Message, lt *laneTarget) (copyStats, bool, error) {
	b := &batch{s: s, c: c, e: e, sf: sf, chunk: chunk, lt: lt,
		lim: s.p.limiter(), sum: sha256.New(), seen: make(map[string]bool, len(chunk))}
	if err := b.start(ctx); err != nil {
		return b.st, false, err
	}
	err := b.fetch(ctx)
	err = b.locateUIDless(ctx, err)
	return b.st, b.dropped.Load(), b.commit(err)
}

// storeFailed notes a failure to store: a dropped connection (not a busy
// server) makes the lane's groups shrink.
func (b *batch) storeFailed(err error) {
	if retryable(err) && !busy(err) {
		b.dropped.Store(true)
	}
}

// start learns where the target folder stands and, for a target that
// stores one message per command, commits every intent of the batch.
func (b *batch) start(ctx context.Context) error {
	mark := b.lt.mark
	b.first = mailbox.Folder{UIDValidity: mark.validity, UIDNext: mark.next}
	if mark.next == 0 {
		var err error
		if b.first, err = b.c.dst.Status(ctx, b.e.Target); err != nil {
			return fmt.Errorf("target folder %q: %w", b.e.Target, err)
		}
	}
	// The mark is kept only while every append says its UID; after a
	// failure or without UIDPLUS the next batch asks again.
	b.lt.mark = uidMark{}
	b.validity.Store(b.first.UIDValidity)
	b.low.Store(b.first.UIDNext)

	if ba, ok := b.c.dst.(target.BatchAppender); ok && ba.Batches() {
		b.batcher = ba
		writers := 1
		if b.s.p.lanes.Load() <= fewLanes {
			writers = groupWriters
		}
		b.gw = newGroupWriter(writers, &b.s.p.arenas, func(hg heldGroup) error { return b.storeGroup(ctx, hg) })
		return nil
	}
	ps := make([]state.Pair, len(b.chunk))
	for i, m := range b.chunk {
		ps[i] = b.intent(m)
	}
	return b.putIntents(ps)
}

// intent is the pair recorded for m before its APPEND.
func (b *batch) intent(m mailbox.Message) state.Pair {
	return state.Pair{
		User: b.s.row.SourceUser, SourceFolder: b.e.Source, SourceUIDValidity: b.sf.UIDValidity,
		SourceKey: m.Key, SourceUID: m.UID, Size: m.Size,
		Flags: m.Flags, InternalDate: m.InternalDate,
		TargetFolder: b.e.Target, TargetUIDValidity: b.validity.Load(), TargetUIDNext: b.low.Load(),
		Status: state.Intent,
	}
}

func (b *batch) putIntents(ps []state.Pair) error {
	return stopUser(b.s.p.Store.PutPairs(ps))
}

// fetch reads the batch from the source and hands each message on: small
// ones into groups, large ones streamed.
func (b *batch) fetch(ctx context.Context) error {
	if b.gw != nil {
		defer func() { b.s.p.arenas.put(b.arena) }() // what was not handed over
	}
	err := b.c.src.Fetch(ctx, b.e.Source, b.chunk, func(m mailbox.Message, body mailbox.Body) error {
		if b.lt.windows && !b.s.p.inWindow() {
			return errOutsideWindow
		}
		b.seen[m.Key] = true
		if err := b.lim.WaitMessage(ctx); err != nil {
			return err
		}
		b.sum.Reset()
		if b.gw != nil && body.Size() <= maxBatchedMessage {
			return b.hold(ctx, m, body)
		}
		return b.stream(ctx, m, body)
	})
	if b.gw == nil {
		return err
	}
	if err == nil {
		err = b.send()
	}
	if cerr := b.gw.close(); err == nil {
		err = cerr
	}
	return err
}

// hold reads a small message into the group being gathered, sending the
// group first when the message would not fit.
func (b *batch) hold(ctx context.Context, m mailbox.Message, body mailbox.Body) error {
	size := int(body.Size())
	limit := int(b.lt.group.Load())
	if len(b.group) > 0 && (limit == 0 || len(b.arena)+size > limit || len(b.arena)+size > maxBatchBytes) {
		if err := b.send(); err != nil {
			return err
		}
	}
	if b.arena == nil {
		var err error
		if b.arena, err = b.s.p.arenas.get(ctx); err != nil {
			return err
		}
	}
	off := len(b.arena)
	b.arena = b.arena[:off+size]
	buf := b.arena[off:len(b.arena):len(b.arena)]
	if _, err := io.ReadFull(io.TeeReader(b.lim.Reader(ctx, body), b.sum), buf); err != nil {
		return fmt.Errorf("read source %q key %s: %w", b.e.Source, m.Key, err)
	}
	b.group = append(b.group, heldMessage{m: m, body: buf, hash: hex.EncodeToString(b.sum.Sum(nil))})
	return nil
}

// send commits the gathered group's intents and hands it to a writer.
// These intents know the bytes to be sent (their hash), so that settling
// them after a failure need not read the source again.
func (b *batch) send() error {
	if len(b.group) == 0 {
		return nil
	}
	ps := make([]state.Pair, len(b.group))
	for i, h := range b.group {
		b.group[i].p = b.intent(h.m)
		b.group[i].p.Hash, b.group[i].p.Size = h.hash, int64(len(h.body))
		ps[i] = b.group[i].p
	}
	if err := b.putIntents(ps); err != nil {
		return err
	}
	if err := b.gw.send(heldGroup{b.group, b.arena}); err != nil {
		return err
	}
	b.group, b.arena = nil, nil
	return nil
}

// stream appends one message straight from the source, once the writers
// are idle.
func (b *batch) stream(ctx context.Context, m mailbox.Message, body mailbox.Body) error {
	if b.gw != nil {
		if err := b.send(); err != nil {
			return err
		}
		if err := b.gw.wait(); err != nil {
			return err
		}
	}
	p := b.intent(m)
	if b.gw != nil {
		if err := b.putIntents([]state.Pair{p}); err != nil {
			return err
		}
	}
	size := body.Size()
	app, err := b.c.dst.Append(ctx, b.e.Target, m.Flags, m.InternalDate, size, io.TeeReader(b.lim.Reader(ctx, body), b.sum))
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.record(p, size, hex.EncodeToString(b.sum.Sum(nil)), app, err)
}

// storeGroup stores one group (on a writer's goroutine) and writes its
// outcomes.
func (b *batch) storeGroup(ctx context.Context, hg heldGroup) error {
	g := hg.msgs
	items := make([]mailbox.Item, len(g))
	for i, h := range g {
		items[i] = mailbox.Item{Flags: h.p.Flags, Date: h.p.InternalDate, Body: h.body}
	}
	apps, err := b.batcher.AppendBatch(ctx, b.e.Target, items)
	switch {
	case err == nil && len(apps) == len(g):
		b.lt.grow()
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, h := range g {
			if err := b.record(h.p, int64(len(h.body)), h.hash, apps[i], nil); err != nil {
				return err
			}
		}
	case err != nil && !errors.Is(err, target.ErrBatchRefused):
		b.storeFailed(err)
		return fmt.Errorf("append %d messages to %q (source %q): %w", len(g), b.e.Target, b.e.Source, err)
	default:
		if err := b.storeOneByOne(ctx, g); err != nil {
			return err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
	}
	return b.persist()
}

// storeOneByOne stores a group the target refused as a whole (nothing of
// it stored) message by message, to learn which it refuses.
func (b *batch) storeOneByOne(ctx context.Context, g []heldMessage) error {
	b.dstMu.Lock()
	defer b.dstMu.Unlock()
	for _, h := range g {
		app, err := b.c.dst.Append(ctx, b.e.Target, h.p.Flags, h.p.InternalDate, int64(len(h.body)), bytes.NewReader(h.body))
		b.mu.Lock()
		err = b.record(h.p, int64(len(h.body)), h.hash, app, err)
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// record notes the outcome of one message's APPEND, with mu held. A
// refusal is recorded against the message and counts toward errors.max.
func (b *batch) record(p state.Pair, size int64, hash string, app target.Appended, err error) error {
	var rej *target.RejectedError
	switch {
	case errors.As(err, &rej):
		p.Status = state.Failed
		p.Size = size
		p.Error = rej.Error()
		b.st.FailedMsgs++
		b.s.p.log().Warn("message refused", "user", b.s.row.SourceUser, "folder", b.e.Source, "key", p.SourceKey, "size", size, "reason", rej.Error())
	case err != nil:
		b.storeFailed(err)
		return fmt.Errorf("append to %q (source %q key %s): %w", b.e.Target, b.e.Source, p.SourceKey, err)
	default:
		p.Status = state.Copied
		p.Size = size
		p.Hash = hash
		p.TargetUID = app.UID
		if app.UIDValidity != 0 {
			p.TargetUIDValidity = app.UIDValidity
			b.validity.Store(app.UIDValidity)
		}
		b.st.Messages++
		b.st.Bytes += size
		b.s.p.copied.Add(1)
		b.s.p.copiedBytes.Add(size)
	}
	if p.Status == state.Copied && p.TargetUID == 0 {
		b.uidless = append(b.uidless, p)
	} else {
		b.recorded = append(b.recorded, p)
		if p.TargetUID >= b.low.Load() {
			b.low.Store(p.TargetUID + 1)
		}
	}
	b.s.p.progress().Add(b.s.row.SourceUser, 1, size)
	if p.Status == state.Failed && b.s.failed.Add(1) >= int64(b.s.p.Config.Errors.Max) {
		return errTooManyFailures
	}
	return nil
}

// persist writes the outcomes recorded so far, with mu held.
func (b *batch) persist() error {
	if len(b.recorded) == 0 {
		return nil
	}
	if err := b.s.p.Store.PutOutcomes(b.recorded); err != nil {
		return stopUser(err)
	}
	b.recorded = b.recorded[:0]
	return nil
}

// locateUIDless finds, without UIDPLUS, the new messages' UIDs by
// content; err is the batch's error so far, returned unless it is nil.
func (b *batch) locateUIDless(ctx context.Context, err error) error {
	if len(b.uidless) == 0 {
		return err
	}
	found, lerr := b.s.locate(ctx, b.c, b.e.Target, b.first.UIDNext, b.uidless, nil, nil)
	if err == nil {
		err = lerr
	}
	for _, p := range b.uidless {
		if m, ok := found[pairID(p)]; ok {
			p.TargetUID = m.UID
		}
		b.recorded = append(b.recorded, p)
	}
	return err
}

// commit writes the outcomes not yet written and, when the whole batch
// went through, forgets the intents of messages the source no longer had
// (they were never appended). After a failure the rest stay intents,
// settled before they are copied again.
func (b *batch) commit(err error) error {
	user := b.s.row.SourceUser
	werr := b.s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range b.recorded {
			if err := tx.PutOutcome(p); err != nil {
				return err
			}
		}
		if err != nil {
			return nil
		}
		if len(b.seen) < len(b.chunk) {
			b.s.p.log().Debug("messages gone from the source before they were copied", "user", user, "folder", b.e.Source, "gone", len(b.chunk)-len(b.seen))
		}
		for _, m := range b.chunk {
			if !b.seen[m.Key] {
				if err := tx.DeletePair(user, b.e.Source, b.sf.UIDValidity, m.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if werr != nil {
		return stopUser(werr)
	}
	switch {
	case err == nil && len(b.uidless) == 0:
		b.lt.mark = uidMark{validity: b.validity.Load(), next: b.low.Load()}
	case errors.Is(err, errTooManyFailures):
		return permanent(fmt.Errorf("user %s: %d messages refused by the target (errors.max %d); see `mailshift status`: %w", user, b.s.failed.Load(), b.s.p.Config.Errors.Max, err))
	}
	return err
}
