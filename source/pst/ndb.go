package pst

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// This file is the node database layer (NDB) of [MS-PST] section 2.2: the
// header, the node and block B-trees, data blocks and their XBLOCK/XXBLOCK
// trees, and subnode trees.

// ErrCorrupt is wrapped by every error about a file's content: a file that
// is not a PST, is truncated, or has inconsistent structures.
var ErrCorrupt = errors.New("corrupt or unsupported PST file")

// corruptError says what is wrong with a file; it matches ErrCorrupt.
type corruptError struct{ msg string }

func (e *corruptError) Error() string        { return e.msg }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(format string, a ...any) error {
	return &corruptError{msg: fmt.Sprintf(format, a...)}
}

// format is the variant of the file.
type format int

const (
	formatANSI      format = iota // 32-bit, 512-byte pages, wVer 14/15
	formatUnicode                 // 64-bit, 512-byte pages, wVer 23
	formatUnicode4K               // 64-bit, 4096-byte pages, compressed blocks, wVer 36/37
)

func (f format) String() string {
	switch f {
	case formatANSI:
		return "ANSI"
	case formatUnicode:
		return "Unicode"
	default:
		return "Unicode 4K"
	}
}

// Limits that keep a corrupt file from costing unbounded time or memory.
const (
	maxBTreeDepth   = 10       // levels of a node or block B-tree
	maxPageCache    = 1024     // B-tree pages kept in memory
	maxBlockInflate = 1 << 20  // inflated size of one compressed block
	maxEmbedDepth   = 8        // messages embedded in messages
	maxValueInMem   = 64 << 20 // a property value read into memory (bodies, names)
)

// Node IDs of [MS-PST] section 2.4.1 and types of section 2.2.2.1.
const (
	nidMessageStore     = 0x21
	nidNameToIDMap      = 0x61
	nidRootFolder       = 0x122
	nidRecipientTable   = 0x692
	nidAttachmentTable  = 0x671
	nidTypeHID          = 0x00
	nidTypeNormalFolder = 0x02
	nidTypeSearchFolder = 0x03
	nidTypeMessage      = 0x04
	nidTypeAttachment   = 0x05
	nidTypeHierarchy    = 0x0D
	nidTypeContents     = 0x0E
)

// bref is a block reference: the block or page ID and its file offset.
type bref struct {
	bid uint64
	ib  uint64
}

// nodeEntry is a leaf of the node B-tree.
type nodeEntry struct {
	nid     uint32
	bidData uint64
	bidSub  uint64
	parent  uint32
}

// blockEntry is a leaf of the block B-tree.
type blockEntry struct {
	bid      uint64
	ib       uint64
	cb       int // bytes stored in the file
	inflated int // bytes after decompression (4K format); equals cb otherwise
}

// file is an open PST: its header and the means to read its nodes.
type file struct {
	r        io.ReaderAt
	size     int64
	format   format
	crypt    byte
	nbt, bbt bref
	checkCRC bool

	pages map[uint64][]byte   // B-tree pages by offset
	kids  map[uint32][]uint32 // folders and messages by parent folder, from the node B-tree
	names map[nameKey]uint16  // named properties' IDs, from the name-to-ID map
}

func (f *file) unicode() bool { return f.format != formatANSI }

func (f *file) pageSize() int {
	if f.format == formatUnicode4K {
		return 4096
	}
	return 512
}

// bidSize is the size of a BID (and of an on-disk NID in subnode entries).
func (f *file) bidSize() int {
	if f.unicode() {
		return 8
	}
	return 4
}

func (f *file) uint(b []byte) uint64 {
	if f.unicode() {
		return binary.LittleEndian.Uint64(b)
	}
	return uint64(binary.LittleEndian.Uint32(b))
}

// noID marks a structure named without an ID in readAt's errors.
const noID = ^uint64(0)

// readAt reads exactly len(b) bytes at off, or reports where the file ends.
// Errors name what was read: what, followed by id unless id is noID (the
// name is only formatted on error, so that reading allocates nothing).
func (f *file) readAt(b []byte, off uint64, what string, id uint64) error {
	name := func() string {
		if id == noID {
			return what
		}
		return fmt.Sprintf("%s %#x", what, id)
	}
	if off > uint64(f.size) || uint64(len(b)) > uint64(f.size)-off {
		return corruptf("%s at offset %d (%d bytes) beyond the end of the file (%d bytes)", name(), off, len(b), f.size)
	}
	n, err := f.r.ReadAt(b, int64(off))
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %s at offset %d: %w", name(), off, err)
}

// openFile reads and checks the header.
func openFile(r io.ReaderAt, size int64, checkCRC bool) (*file, error) {
	f := &file{r: r, size: size, checkCRC: checkCRC, pages: map[uint64][]byte{}}
	if size < 512 {
		return nil, corruptf("file of %d bytes is too small for a PST header", size)
	}
	h := make([]byte, 564)
	if size < int64(len(h)) {
		h = h[:size]
	}
	if err := f.readAt(h, 0, "header", noID); err != nil {
		return nil, err
	}
	if string(h[0:4]) != "!BDN" {
		return nil, corruptf("not a PST file (no !BDN signature)")
	}
	switch string(h[8:10]) {
	case "SM", "SO": // PST, OST
	default:
		return nil, corruptf("not a PST file (client signature %q)", h[8:10])
	}
	ver := binary.LittleEndian.Uint16(h[10:])
	switch {
	case ver == 14 || ver == 15:
		f.format = formatANSI
	case ver == 36 || ver == 37:
		f.format = formatUnicode4K
	case ver >= 21 && ver < 36:
		f.format = formatUnicode
	default:
		return nil, corruptf("unsupported format version wVer %d", ver)
	}
	if f.format == formatANSI {
		if checkCRC && binary.LittleEndian.Uint32(h[4:]) != pstCRC(h[8:8+471]) {
			return nil, corruptf("header checksum mismatch")
		}
		f.nbt = bref{uint64(binary.LittleEndian.Uint32(h[184:])), uint64(binary.LittleEndian.Uint32(h[188:]))}
		f.bbt = bref{uint64(binary.LittleEndian.Uint32(h[192:])), uint64(binary.LittleEndian.Uint32(h[196:]))}
		f.crypt = h[461]
	} else {
		if len(h) < 564 {
			return nil, corruptf("file of %d bytes is too small for a Unicode PST header", size)
		}
		if checkCRC && binary.LittleEndian.Uint32(h[524:]) != pstCRC(h[8:8+516]) {
			return nil, corruptf("header checksum mismatch")
		}
		f.nbt = bref{binary.LittleEndian.Uint64(h[216:]), binary.LittleEndian.Uint64(h[224:])}
		f.bbt = bref{binary.LittleEndian.Uint64(h[232:]), binary.LittleEndian.Uint64(h[240:])}
		f.crypt = h[513]
	}
	switch f.crypt {
	case cryptNone, cryptPermute, cryptCyclic:
	default:
		return nil, corruptf("unsupported encoding bCryptMethod %#x", f.crypt)
	}
	return f, nil
}

// page reads the B-tree page ref and checks its trailer.
func (f *file) page(ref bref, ptype byte) ([]byte, error) {
	if p, ok := f.pages[ref.ib]; ok {
		return p, nil
	}
	ps := f.pageSize()
	p := make([]byte, ps)
	if err := f.readAt(p, ref.ib, "B-tree page bid", ref.bid); err != nil {
		return nil, err
	}
	var (
		t       int // trailer offset
		crc     uint32
		bid     uint64
		crcSpan int
	)
	switch f.format {
	case formatANSI:
		t = 500
		bid = uint64(binary.LittleEndian.Uint32(p[504:]))
		crc = binary.LittleEndian.Uint32(p[508:])
		crcSpan = 500
	case formatUnicode:
		t = 496
		crc = binary.LittleEndian.Uint32(p[500:])
		bid = binary.LittleEndian.Uint64(p[504:])
		crcSpan = 496
	default:
		t = 4072
		crc = binary.LittleEndian.Uint32(p[4076:])
		bid = binary.LittleEndian.Uint64(p[4080:])
		crcSpan = 4072
	}
	if p[t] != ptype || p[t+1] != ptype {
		return nil, corruptf("page bid %#x at offset %d: type %#x, want %#x", ref.bid, ref.ib, p[t], ptype)
	}
	if bid&^1 != ref.bid&^1 {
		return nil, corruptf("page at offset %d: bid %#x, want %#x", ref.ib, bid, ref.bid)
	}
	if f.checkCRC && pstCRC(p[:crcSpan]) != crc {
		return nil, corruptf("page bid %#x at offset %d: checksum mismatch", ref.bid, ref.ib)
	}
	if len(f.pages) >= maxPageCache {
		clear(f.pages)
	}
	f.pages[ref.ib] = p
	return p, nil
}

// btPage is the decoded footer of a B-tree page.
type btPage struct {
	entries []byte
	n, size int // entry count and size
	level   int
}

func (f *file) btPage(ref bref, ptype byte) (btPage, error) {
	p, err := f.page(ref, ptype)
	if err != nil {
		return btPage{}, err
	}
	var bp btPage
	var area int
	switch f.format {
	case formatANSI:
		area = 496
		bp.n, bp.size, bp.level = int(p[496]), int(p[498]), int(p[499])
	case formatUnicode:
		area = 488
		bp.n, bp.size, bp.level = int(p[488]), int(p[490]), int(p[491])
	default:
		area = 4056
		bp.n, bp.size, bp.level = int(binary.LittleEndian.Uint16(p[4056:])), int(p[4060]), int(p[4061])
	}
	min := 3 * f.bidSize() // BTENTRY; leaf entries are at least as large
	if bp.level == 0 && ptype == ptypeNBT {
		min = 4 * f.bidSize()
		if f.unicode() {
			min = 32
		}
	}
	if bp.size < min || bp.n*bp.size > area {
		return btPage{}, corruptf("B-tree page bid %#x: %d entries of %d bytes do not fit", ref.bid, bp.n, bp.size)
	}
	bp.entries = p[:bp.n*bp.size]
	return bp, nil
}

const (
	ptypeBBT = 0x80
	ptypeNBT = 0x81
)

// btLookup finds the leaf entry with key in the B-tree at root. Keys are
// compared with the reserved low bit cleared.
func (f *file) btLookup(root bref, ptype byte, key uint64) ([]byte, error) {
	ref := root
	want := -1
	for depth := 0; ; depth++ {
		if depth > maxBTreeDepth {
			return nil, corruptf("B-tree deeper than %d levels", maxBTreeDepth)
		}
		bp, err := f.btPage(ref, ptype)
		if err != nil {
			return nil, err
		}
		if want >= 0 && bp.level != want {
			return nil, corruptf("B-tree page bid %#x: level %d, want %d", ref.bid, bp.level, want)
		}
		if bp.level > maxBTreeDepth {
			return nil, corruptf("B-tree page bid %#x: level %d", ref.bid, bp.level)
		}
		bs := f.bidSize()
		keyOf := func(e []byte) uint64 {
			k := f.uint(e)
			if ptype == ptypeNBT {
				k &= 0xFFFFFFFF
			}
			return k &^ 1
		}
		if bp.level == 0 {
			for i := 0; i < bp.n; i++ {
				e := bp.entries[i*bp.size : (i+1)*bp.size]
				if keyOf(e) == key&^1 {
					return e, nil
				}
			}
			return nil, nil
		}
		found := -1
		for i := 0; i < bp.n; i++ {
			if keyOf(bp.entries[i*bp.size:]) <= key&^1 {
				found = i
			} else {
				break
			}
		}
		if found < 0 {
			return nil, nil
		}
		e := bp.entries[found*bp.size:]
		ref = bref{f.uint(e[bs:]), f.uint(e[2*bs:])}
		want = bp.level - 1
	}
}

// lookupNode finds nid in the node B-tree.
func (f *file) lookupNode(nid uint32) (nodeEntry, error) {
	e, err := f.btLookup(f.nbt, ptypeNBT, uint64(nid))
	if err != nil {
		return nodeEntry{}, fmt.Errorf("node %#x: %w", nid, err)
	}
	if e == nil {
		return nodeEntry{}, corruptf("node %#x not found", nid)
	}
	bs := f.bidSize()
	ne := nodeEntry{nid: nid, bidData: f.uint(e[bs:]), bidSub: f.uint(e[2*bs:])}
	ne.parent = binary.LittleEndian.Uint32(e[3*bs:])
	return ne, nil
}

// lookupBlock finds bid in the block B-tree.
func (f *file) lookupBlock(bid uint64) (blockEntry, error) {
	e, err := f.btLookup(f.bbt, ptypeBBT, bid)
	if err != nil {
		return blockEntry{}, fmt.Errorf("block %#x: %w", bid, err)
	}
	if e == nil {
		return blockEntry{}, corruptf("block %#x not found", bid)
	}
	bs := f.bidSize()
	be := blockEntry{bid: f.uint(e), ib: f.uint(e[bs:])}
	be.cb = int(binary.LittleEndian.Uint16(e[2*bs:]))
	be.inflated = be.cb
	if f.format == formatUnicode4K {
		be.inflated = int(binary.LittleEndian.Uint16(e[2*bs+2:]))
	}
	return be, nil
}

// blockBuf holds the buffers that reading blocks one after the other
// reuses, so that streaming a value allocates nothing per block. The zero
// value is ready; it must not be copied once used.
type blockBuf struct {
	raw []byte        // the block as stored
	out []byte        // the block inflated (4K format)
	br  bytes.Reader  // over raw, for zr
	zr  io.ReadCloser // zlib reader, reset for each block
}

// grow returns b resized to n bytes, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// block reads, checks and decodes the block bid into memory of its own.
func (f *file) block(bid uint64) ([]byte, error) {
	return f.readBlock(bid, nil)
}

// readBlock reads, checks and decodes the block bid. With buf, the bytes
// returned are buf's and valid until its next use; without, they are new.
func (f *file) readBlock(bid uint64, buf *blockBuf) ([]byte, error) {
	be, err := f.lookupBlock(bid)
	if err != nil {
		return nil, err
	}
	if be.ib > uint64(f.size) {
		return nil, corruptf("block %#x out of range (offset %d, file of %d bytes)", bid, be.ib, f.size)
	}
	var raw []byte
	if f.format == formatUnicode4K {
		if buf != nil {
			buf.raw = grow(buf.raw, be.cb)
			raw = buf.raw
		} else {
			raw = make([]byte, be.cb)
		}
		if err := f.readAt(raw, be.ib, "block", bid); err != nil {
			return nil, err
		}
	} else {
		ts := 16
		if f.format == formatANSI {
			ts = 12
		}
		total := (be.cb + ts + 63) &^ 63
		var b []byte
		if buf != nil {
			buf.raw = grow(buf.raw, total)
			b = buf.raw
		} else {
			b = make([]byte, total)
		}
		if err := f.readAt(b, be.ib, "block", bid); err != nil {
			return nil, err
		}
		t := b[total-ts:]
		cb := int(binary.LittleEndian.Uint16(t))
		var tbid uint64
		var crc uint32
		if f.format == formatANSI {
			tbid = uint64(binary.LittleEndian.Uint32(t[4:]))
			crc = binary.LittleEndian.Uint32(t[8:])
		} else {
			crc = binary.LittleEndian.Uint32(t[4:])
			tbid = binary.LittleEndian.Uint64(t[8:])
		}
		if cb != be.cb || tbid&^1 != bid&^1 {
			return nil, corruptf("block %#x at offset %d: trailer says bid %#x of %d bytes, want %d bytes", bid, be.ib, tbid, cb, be.cb)
		}
		raw = b[:be.cb]
		if f.checkCRC && pstCRC(raw) != crc {
			return nil, corruptf("block %#x at offset %d: checksum mismatch", bid, be.ib)
		}
	}
	if bid&2 == 0 { // external blocks are encoded; internal ones never
		switch f.crypt {
		case cryptPermute:
			decodePermute(raw)
		case cryptCyclic:
			cyclic(raw, uint32(bid))
		}
	}
	if f.format == formatUnicode4K && be.inflated != be.cb {
		if be.inflated > maxBlockInflate {
			return nil, corruptf("block %#x: inflated size %d too large", bid, be.inflated)
		}
		if buf == nil {
			buf = &blockBuf{}
		}
		buf.br.Reset(raw)
		if buf.zr == nil {
			buf.zr, err = zlib.NewReader(&buf.br)
		} else {
			err = buf.zr.(zlib.Resetter).Reset(&buf.br, nil)
		}
		if err != nil {
			buf.zr = nil
			return nil, corruptf("block %#x: %v", bid, err)
		}
		buf.out = grow(buf.out, be.inflated)
		if _, err := io.ReadFull(buf.zr, buf.out); err != nil {
			return nil, corruptf("block %#x: inflating: %v", bid, err)
		}
		raw = buf.out
	}
	return raw, nil
}

// stream is the data of a node: one data block, or the data blocks of an
// XBLOCK/XXBLOCK tree, read block by block on demand. Only the tree's
// XBLOCKs are listed (one per thousand or so data blocks); a data block's
// BID is read from its XBLOCK when it is needed.
type stream struct {
	f     *file
	total int64  // bytes, as the tree's root announces them
	n     int    // data blocks
	xs    []xref // a tree's XBLOCKs, in order; without a tree, the one data block
	tree  bool
	c     cursor // for block
}

// xref is an XBLOCK of a stream's tree, or a stream's only data block.
type xref struct {
	bid   uint64
	first int // index of its first data block in the stream
}

// cursor finds a stream's data blocks, keeping the XBLOCK last used.
type cursor struct {
	x   int      // index in xs of the XBLOCK whose entries are in ent
	ent []byte   // its entries (BIDs), when ok
	ok  bool     // ent holds the entries of xs[x]
	buf blockBuf // for XBLOCKs
}

// dataStream resolves the data tree whose root is bid. It reads the root
// and, below an XXBLOCK, each XBLOCK to count its data blocks; data blocks
// are read when streamed.
func (f *file) dataStream(bid uint64) (*stream, error) {
	s := &stream{f: f}
	if bid == 0 {
		return s, nil
	}
	if bid&2 == 0 {
		be, err := f.lookupBlock(bid)
		if err != nil {
			return nil, err
		}
		s.xs = []xref{{bid: bid}}
		s.n = 1
		s.total = int64(be.inflated)
		return s, nil
	}
	s.tree = true
	maxLeaves := int(f.size/64) + 1
	var scratch blockBuf
	root, err := f.xblock(bid, 0, &scratch)
	if err != nil {
		return nil, err
	}
	s.total = int64(binary.LittleEndian.Uint32(root[4:]))
	if root[1] == 1 {
		s.xs = []xref{{bid: bid}}
		s.n = int(binary.LittleEndian.Uint16(root[2:]))
		if s.n > maxLeaves {
			return nil, corruptf("XBLOCK %#x: more data blocks than the file can hold", bid)
		}
		return s, nil
	}
	// An XXBLOCK: its entries are XBLOCKs. Keep them apart from scratch,
	// which reading each XBLOCK reuses.
	n := int(binary.LittleEndian.Uint16(root[2:]))
	bs := f.bidSize()
	kids := make([]uint64, n)
	for i := range kids {
		kids[i] = f.uint(root[8+i*bs:])
	}
	seen := make(map[uint64]bool, n)
	for _, c := range kids {
		if seen[c&^1] {
			return nil, corruptf("XXBLOCK %#x: XBLOCK %#x referred to twice", bid, c)
		}
		seen[c&^1] = true
		x, err := f.xblock(c, 1, &scratch)
		if err != nil {
			return nil, fmt.Errorf("XXBLOCK %#x: %w", bid, err)
		}
		s.xs = append(s.xs, xref{bid: c, first: s.n})
		s.n += int(binary.LittleEndian.Uint16(x[2:]))
		if s.n > maxLeaves {
			return nil, corruptf("XXBLOCK %#x: more data blocks than the file can hold", bid)
		}
	}
	return s, nil
}

// xblock reads and checks the XBLOCK (level 1) or XXBLOCK (level 2) bid;
// level 0 accepts either. Its entries must be XBLOCKs in an XXBLOCK and
// data blocks in an XBLOCK.
func (f *file) xblock(bid uint64, level int, buf *blockBuf) ([]byte, error) {
	if bid&2 == 0 {
		return nil, corruptf("block %#x is not an XBLOCK", bid)
	}
	b, err := f.readBlock(bid, buf)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 || b[0] != 0x01 {
		return nil, corruptf("block %#x is not an XBLOCK", bid)
	}
	got := int(b[1])
	if (level == 0 && got != 1 && got != 2) || (level != 0 && got != level) {
		return nil, corruptf("XBLOCK %#x: level %d", bid, got)
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	bs := f.bidSize()
	if 8+n*bs > len(b) {
		return nil, corruptf("XBLOCK %#x: %d entries do not fit in %d bytes", bid, n, len(b))
	}
	for i := 0; i < n; i++ {
		c := f.uint(b[8+i*bs:])
		if got == 2 && c&2 == 0 {
			return nil, corruptf("XXBLOCK %#x: entry %#x is not an XBLOCK", bid, c)
		}
		if got == 1 && c&2 != 0 {
			return nil, corruptf("XBLOCK %#x: entry %#x is not a data block", bid, c)
		}
	}
	return b[:8+n*bs], nil
}

// blocks is the number of data blocks.
func (s *stream) blocks() int { return s.n }

// bid returns the BID of the i-th data block, reading its XBLOCK through c
// unless c holds it already.
func (s *stream) bid(c *cursor, i int) (uint64, error) {
	if i < 0 || i >= s.n {
		return 0, corruptf("data block %d of %d", i, s.n)
	}
	if !s.tree {
		return s.xs[0].bid, nil
	}
	if !c.ok || i < s.xs[c.x].first || (c.x+1 < len(s.xs) && i >= s.xs[c.x+1].first) {
		k := sort.Search(len(s.xs), func(j int) bool { return s.xs[j].first > i }) - 1
		want := s.n - s.xs[k].first
		if k+1 < len(s.xs) {
			want = s.xs[k+1].first - s.xs[k].first
		}
		c.ok = false
		b, err := s.f.xblock(s.xs[k].bid, 1, &c.buf)
		if err != nil {
			return 0, err
		}
		if got := int(binary.LittleEndian.Uint16(b[2:])); got != want {
			return 0, corruptf("XBLOCK %#x: %d entries, %d before", s.xs[k].bid, got, want)
		}
		c.x, c.ent, c.ok = k, b[8:], true
	}
	return s.f.uint(c.ent[(i-s.xs[c.x].first)*s.f.bidSize():]), nil
}

// block returns the i-th data block, in memory of its own.
func (s *stream) block(i int) ([]byte, error) {
	bid, err := s.bid(&s.c, i)
	if err != nil {
		return nil, err
	}
	return s.f.block(bid)
}

// bytes reads the whole stream, refusing more than limit bytes.
func (s *stream) bytes(limit int64) ([]byte, error) {
	if s.total > limit {
		return nil, corruptf("value of %d bytes is larger than %d", s.total, limit)
	}
	out := make([]byte, 0, min(s.total, 1<<20))
	var buf blockBuf
	for i := 0; i < s.n; i++ {
		bid, err := s.bid(&s.c, i)
		if err != nil {
			return nil, err
		}
		b, err := s.f.readBlock(bid, &buf)
		if err != nil {
			return nil, err
		}
		if int64(len(out)+len(b)) > s.total {
			return nil, corruptf("data blocks hold more than the %d bytes announced", s.total)
		}
		out = append(out, b...)
	}
	if int64(len(out)) != s.total {
		return nil, corruptf("data blocks hold %d bytes, %d announced", len(out), s.total)
	}
	return out, nil
}

// reader streams the data block by block, reusing one block's memory.
// Data blocks referred to more than once are read more than once: what a
// reader delivers is bounded by the size the tree announces, itself
// bounded by the message's budget.
func (s *stream) reader() io.Reader { return &streamReader{s: s} }

type streamReader struct {
	s    *stream
	c    cursor
	data blockBuf
	i    int
	buf  []byte
	read int64
	err  error
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.i >= r.s.n {
			if r.read != r.s.total {
				r.err = corruptf("data blocks hold %d bytes, %d announced", r.read, r.s.total)
			} else {
				r.err = io.EOF
			}
			continue
		}
		bid, err := r.s.bid(&r.c, r.i)
		if err != nil {
			r.err = err
			continue
		}
		b, err := r.s.f.readBlock(bid, &r.data)
		if err != nil {
			r.err = err
			continue
		}
		r.i++
		r.read += int64(len(b))
		if r.read > r.s.total {
			r.err = corruptf("data blocks hold more than the %d bytes announced", r.s.total)
			continue
		}
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// subnodeEntry is an entry of a subnode tree (SLENTRY).
type subnodeEntry struct {
	bidData, bidSub uint64
}

// subnodes reads the subnode tree whose root block is bid.
func (f *file) subnodes(bid uint64) (map[uint32]subnodeEntry, error) {
	m := map[uint32]subnodeEntry{}
	if bid == 0 {
		return m, nil
	}
	maxEntries := int(f.size/8) + 1
	seen := map[uint64]bool{}
	var walk func(bid uint64, want int) error
	walk = func(bid uint64, want int) error {
		if seen[bid&^1] {
			return corruptf("subnode block %#x referred to twice", bid)
		}
		seen[bid&^1] = true
		if bid&2 == 0 {
			return corruptf("subnode block %#x is not an internal block", bid)
		}
		b, err := f.block(bid)
		if err != nil {
			return err
		}
		hdr := 8
		if !f.unicode() {
			hdr = 4
		}
		if len(b) < hdr || b[0] != 0x02 {
			return corruptf("block %#x is not a subnode block", bid)
		}
		level := int(b[1])
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if level > 1 || (want >= 0 && level != want) {
			return corruptf("subnode block %#x: level %d", bid, level)
		}
		bs := f.bidSize()
		es := 3 * bs
		if level == 1 {
			es = 2 * bs
		}
		if hdr+n*es > len(b) {
			return corruptf("subnode block %#x: %d entries do not fit in %d bytes", bid, n, len(b))
		}
		for i := 0; i < n; i++ {
			e := b[hdr+i*es:]
			nid := uint32(f.uint(e))
			if level == 1 {
				if err := walk(f.uint(e[bs:]), 0); err != nil {
					return err
				}
				continue
			}
			if len(m) >= maxEntries {
				return corruptf("subnode block %#x: too many entries", bid)
			}
			m[nid] = subnodeEntry{bidData: f.uint(e[bs:]), bidSub: f.uint(e[2*bs:])}
		}
		return nil
	}
	if err := walk(bid, -1); err != nil {
		return nil, err
	}
	return m, nil
}

// node is a node of the node B-tree or a subnode: its data and subnodes.
type node struct {
	f       *file
	nid     uint32
	bidData uint64
	bidSub  uint64
	subs    map[uint32]subnodeEntry
}

// openNode opens a node of the node B-tree.
func (f *file) openNode(nid uint32) (*node, error) {
	ne, err := f.lookupNode(nid)
	if err != nil {
		return nil, err
	}
	return &node{f: f, nid: nid, bidData: ne.bidData, bidSub: ne.bidSub}, nil
}

// sub opens the subnode nid of n.
func (n *node) sub(nid uint32) (*node, error) {
	if n.subs == nil {
		m, err := n.f.subnodes(n.bidSub)
		if err != nil {
			return nil, fmt.Errorf("subnodes of node %#x: %w", n.nid, err)
		}
		n.subs = m
	}
	e, ok := n.subs[nid]
	if !ok {
		return nil, corruptf("node %#x has no subnode %#x", n.nid, nid)
	}
	return &node{f: n.f, nid: nid, bidData: e.bidData, bidSub: e.bidSub}, nil
}

// data resolves the node's data tree.
func (n *node) data() (*stream, error) {
	s, err := n.f.dataStream(n.bidData)
	if err != nil {
		return nil, fmt.Errorf("node %#x: %w", n.nid, err)
	}
	return s, nil
}

// eachNode calls fn with every leaf of the node B-tree.
func (f *file) eachNode(fn func(nodeEntry) error) error {
	seen := map[uint64]bool{}
	var walk func(ref bref, want int, depth int) error
	walk = func(ref bref, want int, depth int) error {
		if depth > maxBTreeDepth {
			return corruptf("node B-tree deeper than %d levels", maxBTreeDepth)
		}
		if seen[ref.ib] {
			return corruptf("node B-tree refers to the page at offset %d twice", ref.ib)
		}
		seen[ref.ib] = true
		bp, err := f.btPage(ref, ptypeNBT)
		if err != nil {
			return err
		}
		if want >= 0 && bp.level != want {
			return corruptf("node B-tree page bid %#x: level %d, want %d", ref.bid, bp.level, want)
		}
		bs := f.bidSize()
		for i := 0; i < bp.n; i++ {
			e := bp.entries[i*bp.size:]
			if bp.level > 0 {
				if err := walk(bref{f.uint(e[bs:]), f.uint(e[2*bs:])}, bp.level-1, depth+1); err != nil {
					return err
				}
				continue
			}
			ne := nodeEntry{nid: uint32(f.uint(e)), bidData: f.uint(e[bs:]), bidSub: f.uint(e[2*bs:]), parent: binary.LittleEndian.Uint32(e[3*bs:])}
			if err := fn(ne); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(f.nbt, -1, 0)
}
