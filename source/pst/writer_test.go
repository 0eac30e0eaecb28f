package pst

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

// This file is a small PST writer for tests: it builds whole files in
// memory (or, with writePSTFile, on disk, keeping only the file's indexes
// in memory), in any of the three formats and encodings, with small block
// and fan-out limits on request so that XBLOCKs, XXBLOCKs, SIBLOCKs and
// multi-level B-trees appear without huge files.

// wOptions shape a written file.
type wOptions struct {
	format    format
	crypt     byte
	blockData int  // data bytes per block (default: the format's maximum)
	fanout    int  // entries per XBLOCK, SIBLOCK/SLBLOCK (default: as many as fit)
	compress  bool // 4K format: zlib-compress blocks that shrink
	slFanout  int  // entries per SLBLOCK (default: fanout)
}

// writer accumulates blocks and nodes, then lays out the B-trees and the
// header.
type writer struct {
	o       wOptions
	buf     []byte   // the file, or with out its part not yet written
	base    int64    // offset of buf[0] in the file
	out     *os.File // where the file goes; nil keeps it all in buf
	err     error    // the first error writing to out
	nextBID uint64
	blocks  []blockEntry
	nodes   []nodeEntry
	nextSub uint32
	names   []nameKey // named properties in the order they got their IDs
	nameIDs map[nameKey]uint16
}

// nameID is the property ID of a named property in the file written,
// given on first use.
func (w *writer) nameID(k nameKey) uint16 {
	if w.nameIDs == nil {
		w.nameIDs = map[nameKey]uint16{}
	}
	if id, ok := w.nameIDs[k]; ok {
		return id
	}
	id := uint16(0x8000 + len(w.names))
	w.nameIDs[k] = id
	w.names = append(w.names, k)
	return id
}

// nameMap writes the name-to-ID map ([MS-PST] 2.4.7) of the named
// properties used.
func (w *writer) nameMap() {
	var guids, entries, strs []byte
	gidx := map[guid]int{}
	for i, k := range w.names {
		var g int
		switch k.set {
		case psMAPI:
			g = 1
		case psPublicStrings:
			g = 2
		default:
			n, ok := gidx[k.set]
			if !ok {
				n = len(gidx)
				gidx[k.set] = n
				guids = append(guids, k.set[:]...)
			}
			g = 3 + n
		}
		e := make([]byte, 8)
		kind := 0
		if k.name != "" {
			kind = 1
			binary.LittleEndian.PutUint32(e, uint32(len(strs)))
			u := utf16.Encode([]rune(k.name))
			b := make([]byte, 4+2*len(u))
			binary.LittleEndian.PutUint32(b, uint32(2*len(u)))
			for j, c := range u {
				binary.LittleEndian.PutUint16(b[4+2*j:], c)
			}
			strs = append(strs, b...)
			for len(strs)%4 != 0 {
				strs = append(strs, 0)
			}
		} else {
			binary.LittleEndian.PutUint32(e, k.lid)
		}
		binary.LittleEndian.PutUint16(e[4:], uint16(g<<1|kind))
		binary.LittleEndian.PutUint16(e[6:], uint16(i))
		entries = append(entries, e...)
	}
	d, s := w.pc(pcProps{0x0001: i32(251), propNameidStreamGUID: bin(guids), propNameidStreamEntry: bin(entries), propNameidStreamString: bin(strs)}, nil)
	w.node(nidNameToIDMap, d, s, 0)
}

// strs is a multi-valued string property.
func (w *writer) strs(ss ...string) obj {
	var vals [][]byte
	typ := uint16(0)
	for _, s := range ss {
		o := w.str(s)
		typ = o.typ
		vals = append(vals, o.data)
	}
	if typ == 0 {
		typ = w.str("").typ
	}
	return multi(typ|ptMulti, vals)
}

// multi lays out a multi-valued variable-size property: a count, an
// offset per value, the values.
func multi(typ uint16, vals [][]byte) obj {
	b := make([]byte, 4+4*len(vals))
	binary.LittleEndian.PutUint32(b, uint32(len(vals)))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4+4*i:], uint32(len(b)))
		b = append(b, v...)
	}
	return obj{typ: typ, data: b}
}

func boolean(v bool) obj {
	if v {
		return obj{typ: ptBool, data: []byte{1}}
	}
	return obj{typ: ptBool, data: []byte{0}}
}

func f64(v float64) obj {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, math.Float64bits(v))
	return obj{typ: ptDouble, data: b}
}

// off is the offset at which the next byte goes.
func (w *writer) off() int64 { return w.base + int64(len(w.buf)) }

// flush writes what buf holds to out once it holds enough, or always
// with force.
func (w *writer) flush(force bool) {
	if w.out == nil || (!force && len(w.buf) < 1<<20) {
		return
	}
	if _, err := w.out.Write(w.buf); err != nil && w.err == nil {
		w.err = err
	}
	w.base += int64(len(w.buf))
	w.buf = w.buf[:0]
}

func newWriter(o wOptions) *writer {
	max := 8176
	if o.format == formatANSI {
		max = 8180
	}
	if o.blockData == 0 || o.blockData > max {
		o.blockData = max
	}
	bs := 8
	if o.format == formatANSI {
		bs = 4
	}
	if o.fanout == 0 || o.fanout > (o.blockData-8)/(3*bs) {
		o.fanout = (o.blockData - 8) / (3 * bs)
	}
	w := &writer{o: o, nextBID: 4, nextSub: 1}
	w.buf = make([]byte, 0x4400)
	return w
}

func (w *writer) bs() int {
	if w.o.format == formatANSI {
		return 4
	}
	return 8
}

func (w *writer) putUint(b []byte, v uint64) {
	if w.o.format == formatANSI {
		binary.LittleEndian.PutUint32(b, uint32(v))
	} else {
		binary.LittleEndian.PutUint64(b, v)
	}
}

func (w *writer) align(n int) {
	for w.off()%int64(n) != 0 {
		w.buf = append(w.buf, 0)
	}
}

func (w *writer) newBID(internal bool) uint64 {
	bid := w.nextBID
	w.nextBID += 4
	if internal {
		bid |= 2
	}
	return bid
}

// block writes one block and returns its BID.
func (w *writer) block(data []byte, internal bool) uint64 {
	bid := w.newBID(internal)
	raw := bytes.Clone(data)
	inflated := len(raw)
	if w.o.format == formatUnicode4K && w.o.compress {
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
		zw.Write(raw)
		zw.Close()
		if z.Len() < len(raw) {
			raw = z.Bytes()
		}
	}
	if !internal {
		switch w.o.crypt {
		case cryptPermute:
			encodePermute(raw)
		case cryptCyclic:
			cyclic(raw, uint32(bid))
		}
	}
	if w.o.format == formatUnicode4K {
		w.align(512)
	} else {
		w.align(64)
	}
	ib := uint64(w.off())
	w.buf = append(w.buf, raw...)
	ts := 16
	switch w.o.format {
	case formatANSI:
		ts = 12
	case formatUnicode4K:
		ts = 24
	}
	al := 64
	if w.o.format == formatUnicode4K {
		al = 512
	}
	for (w.off()+int64(ts))%int64(al) != 0 {
		w.buf = append(w.buf, 0)
	}
	t := make([]byte, ts)
	binary.LittleEndian.PutUint16(t, uint16(len(raw)))
	binary.LittleEndian.PutUint16(t[2:], sigOf(ib, bid))
	crc := pstCRC(raw)
	if w.o.format == formatANSI {
		binary.LittleEndian.PutUint32(t[4:], uint32(bid))
		binary.LittleEndian.PutUint32(t[8:], crc)
	} else {
		binary.LittleEndian.PutUint32(t[4:], crc)
		binary.LittleEndian.PutUint64(t[8:], bid)
		if w.o.format == formatUnicode4K {
			binary.LittleEndian.PutUint16(t[18:], uint16(inflated))
		}
	}
	w.buf = append(w.buf, t...)
	w.blocks = append(w.blocks, blockEntry{bid: bid, ib: ib, cb: len(raw), inflated: inflated})
	w.flush(false)
	return bid
}

// data writes a value as one block or an XBLOCK/XXBLOCK tree of chunks.
func (w *writer) data(chunks [][]byte) uint64 {
	switch {
	case len(chunks) == 0:
		return 0
	case len(chunks) == 1:
		return w.block(chunks[0], false)
	}
	var total int64
	var bids []uint64
	for _, c := range chunks {
		total += int64(len(c))
		bids = append(bids, w.block(c, false))
	}
	return w.xtree(bids, total)
}

// xtree writes the XBLOCK, or the XXBLOCK and its XBLOCKs, over the data
// blocks bids holding total bytes, and returns its BID.
func (w *writer) xtree(bids []uint64, total int64) uint64 {
	if total > 1<<32-1 {
		panic("value too large for an XBLOCK")
	}
	xmax := (w.o.blockData - 8) / w.bs()
	if w.o.fanout < xmax {
		xmax = w.o.fanout
	}
	xblock := func(level int, ids []uint64) uint64 {
		b := make([]byte, 8+len(ids)*w.bs())
		b[0], b[1] = 0x01, byte(level)
		binary.LittleEndian.PutUint16(b[2:], uint16(len(ids)))
		binary.LittleEndian.PutUint32(b[4:], uint32(total))
		for i, id := range ids {
			w.putUint(b[8+i*w.bs():], id)
		}
		return w.block(b, true)
	}
	if len(bids) <= xmax {
		return xblock(1, bids)
	}
	var xs []uint64
	for i := 0; i < len(bids); i += xmax {
		xs = append(xs, xblock(1, bids[i:min(i+xmax, len(bids))]))
	}
	if len(xs) > xmax {
		panic("value too large for an XXBLOCK")
	}
	return xblock(2, xs)
}

// readerData writes the size bytes read from r as blocks, reading one
// block's worth at a time, and returns the BID of the value's data.
func (w *writer) readerData(r io.Reader, size int64) uint64 {
	buf := make([]byte, w.o.blockData)
	var bids []uint64
	for left := size; left > 0; {
		n := int(min(left, int64(len(buf))))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			panic(fmt.Sprintf("reading a streamed value: %v", err))
		}
		bids = append(bids, w.block(buf[:n], false))
		left -= int64(n)
	}
	switch len(bids) {
	case 0:
		return 0
	case 1:
		return bids[0]
	}
	return w.xtree(bids, size)
}

// bytesData splits b into blocks.
func (w *writer) bytesData(b []byte) uint64 {
	var chunks [][]byte
	for i := 0; i < len(b); i += w.o.blockData {
		chunks = append(chunks, b[i:min(i+w.o.blockData, len(b))])
	}
	return w.data(chunks)
}

// sub is a subnode to be written in a node's subnode tree.
type sub struct {
	nid     uint32
	bidData uint64
	bidSub  uint64
}

// subtree writes a subnode tree and returns its root BID.
func (w *writer) subtree(subs []sub) uint64 {
	if len(subs) == 0 {
		return 0
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].nid < subs[j].nid })
	hdr := 8
	if w.o.format == formatANSI {
		hdr = 4
	}
	bs := w.bs()
	leaf := func(es []sub) uint64 {
		b := make([]byte, hdr+len(es)*3*bs)
		b[0], b[1] = 0x02, 0
		binary.LittleEndian.PutUint16(b[2:], uint16(len(es)))
		for i, e := range es {
			o := hdr + i*3*bs
			w.putUint(b[o:], uint64(e.nid))
			w.putUint(b[o+bs:], e.bidData)
			w.putUint(b[o+2*bs:], e.bidSub)
		}
		return w.block(b, true)
	}
	per := w.o.fanout
	if w.o.slFanout > 0 {
		per = w.o.slFanout
	}
	if len(subs) <= per {
		return leaf(subs)
	}
	var ids []uint32
	var bids []uint64
	for i := 0; i < len(subs); i += per {
		part := subs[i:min(i+per, len(subs))]
		ids = append(ids, part[0].nid)
		bids = append(bids, leaf(part))
	}
	b := make([]byte, hdr+len(ids)*2*bs)
	b[0], b[1] = 0x02, 1
	binary.LittleEndian.PutUint16(b[2:], uint16(len(ids)))
	for i := range ids {
		w.putUint(b[hdr+i*2*bs:], uint64(ids[i]))
		w.putUint(b[hdr+i*2*bs+bs:], bids[i])
	}
	return w.block(b, true)
}

func (w *writer) node(nid uint32, bidData, bidSub uint64, parent uint32) {
	w.nodes = append(w.nodes, nodeEntry{nid: nid, bidData: bidData, bidSub: bidSub, parent: parent})
}

// ---- heap-on-node, BTH, PC and TC ----

// hnBuilder places allocations in heap blocks as they are made, so that
// their HIDs are known at once.
type hnBuilder struct {
	w      *writer
	client byte
	pages  [][][]byte // allocations per block
	used   []int
}

// maxAlloc is the largest value kept in the heap; larger ones go to
// subnodes.
func (w *writer) maxAlloc() int { return min(3580, w.o.blockData-80) }

func (w *writer) newHeap(client byte) *hnBuilder {
	h := &hnBuilder{w: w, client: client}
	h.newPage()
	return h
}

func (h *hnBuilder) hdrSize(i int) int {
	switch {
	case i == 0:
		return 12
	case i >= 8 && (i-8)%128 == 0:
		return 66
	}
	return 2
}

func (h *hnBuilder) newPage() {
	h.pages = append(h.pages, nil)
	h.used = append(h.used, h.hdrSize(len(h.pages)-1))
}

// alloc adds an allocation and returns its HID.
func (h *hnBuilder) alloc(b []byte) uint32 {
	if len(b) > h.w.maxAlloc() {
		panic(fmt.Sprintf("allocation of %d bytes too large", len(b)))
	}
	i := len(h.pages) - 1
	n := len(h.pages[i])
	// page map: 4 + 2*(n+2) bytes after adding
	if h.used[i]+len(b)+4+2*(n+2) > h.w.o.blockData || n >= 2000 {
		h.newPage()
		i++
		n = 0
	}
	h.pages[i] = append(h.pages[i], bytes.Clone(b))
	h.used[i] += len(b)
	return uint32(i)<<16 | uint32(n+1)<<5
}

// set replaces the contents of an allocation (of the same size).
func (h *hnBuilder) set(hid uint32, b []byte) {
	copy(h.pages[hid>>16][(hid>>5&0x7FF)-1], b)
}

// write writes the heap's blocks and returns the data BID.
func (h *hnBuilder) write(root uint32) uint64 {
	var chunks [][]byte
	for i, allocs := range h.pages {
		b := make([]byte, h.hdrSize(i))
		for _, a := range allocs {
			b = append(b, a...)
		}
		for len(b)%2 != 0 {
			b = append(b, 0)
		}
		pm := len(b)
		binary.LittleEndian.PutUint16(b, uint16(pm))
		if i == 0 {
			b[2], b[3] = sigHN, h.client
			binary.LittleEndian.PutUint32(b[4:], root)
		}
		m := make([]byte, 4+2*(len(allocs)+1))
		binary.LittleEndian.PutUint16(m, uint16(len(allocs)))
		off := h.hdrSize(i)
		binary.LittleEndian.PutUint16(m[4:], uint16(off))
		for k, a := range allocs {
			off += len(a)
			binary.LittleEndian.PutUint16(m[4+2*(k+1):], uint16(off))
		}
		chunks = append(chunks, append(b, m...))
	}
	return h.w.data(chunks)
}

// bth writes a B-tree-on-heap of sorted records and returns the HID of
// its header.
func (h *hnBuilder) bth(cbKey, cbEnt int, recs [][]byte) uint32 {
	sort.Slice(recs, func(i, j int) bool { return bytes.Compare(rev(recs[i][:cbKey]), rev(recs[j][:cbKey])) < 0 })
	levels := 0
	var root uint32
	if len(recs) > 0 {
		level := recs
		size := cbKey + cbEnt
		for {
			per := h.w.maxAlloc() / size
			if h.w.o.fanout < per && h.w.o.fanout >= 2 {
				per = h.w.o.fanout
			}
			var next [][]byte
			for i := 0; i < len(level); i += per {
				part := level[i:min(i+per, len(level))]
				hid := h.alloc(bytes.Join(part, nil))
				r := make([]byte, cbKey+4)
				copy(r, part[0][:cbKey])
				binary.LittleEndian.PutUint32(r[cbKey:], hid)
				next = append(next, r)
			}
			if len(next) == 1 {
				root = binary.LittleEndian.Uint32(next[0][cbKey:])
				break
			}
			level, size = next, cbKey+4
			levels++
		}
	}
	hdr := []byte{sigBT, byte(cbKey), byte(cbEnt), byte(levels), 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(hdr[4:], root)
	return h.alloc(hdr)
}

func rev(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

// obj is a property value to write: a type and its bytes, or, for a
// large binary value, size bytes read from src while it is written.
type obj struct {
	typ  uint16
	data []byte
	src  io.Reader
	size int64
}

func (w *writer) str(s string) obj {
	if w.o.format == formatANSI {
		b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
		if err != nil {
			panic(err)
		}
		return obj{typ: ptString8, data: b}
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return obj{typ: ptUnicode, data: b}
}

func i32(v int) obj {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return obj{typ: ptInt32, data: b}
}

func ftime(t time.Time) obj {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(t.UnixNano()/100+116444736000000000))
	return obj{typ: ptTime, data: b}
}

func bin(b []byte) obj { return obj{typ: ptBinary, data: b} }

func (w *writer) subNID() uint32 {
	w.nextSub++
	return w.nextSub<<5 | 0x1F
}

// value places a variable-size value: in the heap, or in a subnode.
func (w *writer) value(h *hnBuilder, subs *[]sub, data []byte) uint32 {
	if len(data) <= w.maxAlloc() {
		if len(data) == 0 {
			return h.alloc(nil)
		}
		return h.alloc(data)
	}
	nid := w.subNID()
	*subs = append(*subs, sub{nid: nid, bidData: w.bytesData(data)})
	return nid
}

// pcProps is a property context's properties by ID.
type pcProps map[uint16]obj

// pc writes a property context; extra subnodes (attachments, tables, an
// embedded message) join the value subnodes. It returns the data and
// subnode BIDs.
func (w *writer) pc(props pcProps, extra []sub) (uint64, uint64) {
	h := w.newHeap(sigPC)
	subs := append([]sub(nil), extra...)
	var recs [][]byte
	for id, v := range props {
		r := make([]byte, 8)
		binary.LittleEndian.PutUint16(r, id)
		binary.LittleEndian.PutUint16(r[2:], v.typ)
		if sz := fixedSize(v.typ); sz > 0 && sz <= 4 {
			copy(r[4:], v.data)
		} else if v.typ == ptObject {
			binary.LittleEndian.PutUint32(r[4:], h.alloc(v.data))
		} else if v.src != nil {
			nid := w.subNID()
			subs = append(subs, sub{nid: nid, bidData: w.readerData(v.src, v.size)})
			binary.LittleEndian.PutUint32(r[4:], nid)
		} else {
			binary.LittleEndian.PutUint32(r[4:], w.value(h, &subs, v.data))
		}
		recs = append(recs, r)
	}
	root := h.bth(2, 6, recs)
	return h.write(root), w.subtree(subs)
}

// tc writes a table context with the given columns (PidTagLtpRowId and
// PidTagLtpRowVer are added first) and rows (one row ID and a value per
// column, nil for absent).
func (w *writer) tc(cols []uint32, ids []uint32, rows [][]*obj) (uint64, uint64) {
	h := w.newHeap(sigTC)
	var subs []sub
	type place struct {
		tag      uint32
		ib, cb   int
		ibit     int
		variable bool
	}
	all := append([]uint32{tagLtpRowID, 0x67F30003}, cols...)
	var pl []place
	ib := 0
	// 8- and 4-byte columns, then 2-byte, then 1-byte.
	for _, pass := range []int{8, 4, 2, 1} {
		for i, tag := range all {
			sz := fixedSize(uint16(tag))
			variable := sz == 0 || sz > 8
			if variable {
				sz = 4
			}
			if sz != pass {
				continue
			}
			pl = append(pl, place{tag: tag, ib: ib, cb: sz, ibit: i, variable: variable})
			ib += sz
		}
	}
	end4 := 0
	end2 := 0
	for _, p := range pl {
		if p.cb >= 4 {
			end4 = p.ib + p.cb
		}
	}
	end2 = end4
	for _, p := range pl {
		if p.cb == 2 {
			end2 = p.ib + p.cb
		}
	}
	end1 := ib
	rowSize := end1 + (len(all)+7)/8
	info := make([]byte, 22+8*len(pl))
	info[0], info[1] = sigTC, byte(len(pl))
	binary.LittleEndian.PutUint16(info[2:], uint16(end4))
	binary.LittleEndian.PutUint16(info[4:], uint16(end2))
	binary.LittleEndian.PutUint16(info[6:], uint16(end1))
	binary.LittleEndian.PutUint16(info[8:], uint16(rowSize))
	sort.Slice(pl, func(i, j int) bool { return pl[i].tag < pl[j].tag })
	for i, p := range pl {
		d := info[22+8*i:]
		binary.LittleEndian.PutUint32(d, p.tag)
		binary.LittleEndian.PutUint16(d[4:], uint16(p.ib))
		d[6], d[7] = byte(p.cb), byte(p.ibit)
	}
	infoHID := h.alloc(info)
	var matrix []byte
	var idx [][]byte
	for r, id := range ids {
		row := make([]byte, rowSize)
		for _, p := range pl {
			var v *obj
			switch p.tag {
			case tagLtpRowID:
				v = &obj{typ: ptInt32, data: binary.LittleEndian.AppendUint32(nil, id)}
			case 0x67F30003:
				v = &obj{typ: ptInt32, data: binary.LittleEndian.AppendUint32(nil, uint32(r+1))}
			default:
				for ci, c := range cols {
					if c == p.tag {
						v = rows[r][ci]
					}
				}
			}
			if v == nil {
				continue
			}
			row[end1+p.ibit/8] |= 0x80 >> (p.ibit % 8)
			if p.variable {
				binary.LittleEndian.PutUint32(row[p.ib:], w.value(h, &subs, v.data))
			} else {
				copy(row[p.ib:p.ib+p.cb], v.data)
			}
		}
		matrix = append(matrix, row...)
		k := make([]byte, 8)
		binary.LittleEndian.PutUint32(k, id)
		binary.LittleEndian.PutUint32(k[4:], uint32(r))
		idx = append(idx, k)
	}
	rowIndex := h.bth(4, 4, idx)
	var rowsHNID uint32
	if len(matrix) > 0 {
		if len(matrix) <= w.maxAlloc() {
			rowsHNID = h.alloc(matrix)
		} else {
			per := w.o.blockData / rowSize
			var chunks [][]byte
			for i := 0; i < len(ids); i += per {
				chunks = append(chunks, matrix[i*rowSize:min(i+per, len(ids))*rowSize])
			}
			rowsHNID = w.subNID()
			subs = append(subs, sub{nid: rowsHNID, bidData: w.data(chunks)})
		}
	}
	binary.LittleEndian.PutUint32(info[10:], rowIndex)
	binary.LittleEndian.PutUint32(info[14:], rowsHNID)
	h.set(infoHID, info)
	return h.write(infoHID), w.subtree(subs)
}

// ---- B-trees and header ----

func (w *writer) pageSize() int {
	if w.o.format == formatUnicode4K {
		return 4096
	}
	return 512
}

// page writes a B-tree page of entries and returns its reference.
func (w *writer) page(ptype byte, level, entrySize int, entries [][]byte) bref {
	ps := w.pageSize()
	w.align(ps)
	p := make([]byte, ps)
	for i, e := range entries {
		copy(p[i*entrySize:], e)
	}
	bid := w.newBID(false)
	ib := uint64(w.off())
	var t, crcSpan int
	switch w.o.format {
	case formatANSI:
		p[496], p[497], p[498], p[499] = byte(len(entries)), byte(496/entrySize), byte(entrySize), byte(level)
		t, crcSpan = 500, 500
	case formatUnicode:
		p[488], p[489], p[490], p[491] = byte(len(entries)), byte(488/entrySize), byte(entrySize), byte(level)
		t, crcSpan = 496, 496
	default:
		binary.LittleEndian.PutUint16(p[4056:], uint16(len(entries)))
		binary.LittleEndian.PutUint16(p[4058:], uint16(4056/entrySize))
		p[4060], p[4061] = byte(entrySize), byte(level)
		t, crcSpan = 4072, 4072
	}
	p[t], p[t+1] = ptype, ptype
	binary.LittleEndian.PutUint16(p[t+2:], sigOf(ib, bid))
	crc := pstCRC(p[:crcSpan])
	if w.o.format == formatANSI {
		binary.LittleEndian.PutUint32(p[t+4:], uint32(bid))
		binary.LittleEndian.PutUint32(p[t+8:], crc)
	} else {
		binary.LittleEndian.PutUint32(p[t+4:], crc)
		binary.LittleEndian.PutUint64(p[t+8:], bid)
	}
	w.buf = append(w.buf, p...)
	w.flush(false)
	return bref{bid: bid, ib: ib}
}

// btree writes sorted leaf entries (first bs bytes are the key) and the
// levels above them, and returns the root.
func (w *writer) btree(ptype byte, leafSize int, leaves [][]byte, maxPer int) bref {
	area := map[format]int{formatANSI: 496, formatUnicode: 488, formatUnicode4K: 4056}[w.o.format]
	bs := w.bs()
	per := area / leafSize
	if maxPer > 0 && maxPer < per {
		per = maxPer
	}
	type ent struct {
		key uint64
		ref bref
	}
	var level []ent
	for i := 0; i < len(leaves) || i == 0; i += per {
		part := leaves[i:min(i+per, len(leaves))]
		ref := w.page(ptype, 0, leafSize, part)
		var key uint64
		if len(part) > 0 {
			key = w.uintOf(part[0])
		}
		level = append(level, ent{key, ref})
		if len(leaves) == 0 {
			break
		}
	}
	lv := 0
	iper := area / (3 * bs)
	if maxPer > 0 && maxPer < iper {
		iper = maxPer
	}
	for len(level) > 1 {
		lv++
		var next []ent
		for i := 0; i < len(level); i += iper {
			part := level[i:min(i+iper, len(level))]
			var es [][]byte
			for _, e := range part {
				b := make([]byte, 3*bs)
				w.putUint(b, e.key)
				w.putUint(b[bs:], e.ref.bid)
				w.putUint(b[2*bs:], e.ref.ib)
				es = append(es, b)
			}
			next = append(next, ent{part[0].key, w.page(ptype, lv, 3*bs, es)})
		}
		level = next
	}
	return level[0].ref
}

func (w *writer) uintOf(b []byte) uint64 {
	if w.o.format == formatANSI {
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// finish writes the B-trees and the header and returns the file.
func (w *writer) finish(maxPer int) []byte {
	bs := w.bs()
	sort.Slice(w.nodes, func(i, j int) bool { return w.nodes[i].nid < w.nodes[j].nid })
	var nl [][]byte
	nsize := 4 * bs
	if bs == 8 {
		nsize = 32
	}
	for _, n := range w.nodes {
		b := make([]byte, nsize)
		w.putUint(b, uint64(n.nid))
		w.putUint(b[bs:], n.bidData)
		w.putUint(b[2*bs:], n.bidSub)
		binary.LittleEndian.PutUint32(b[3*bs:], n.parent)
		nl = append(nl, b)
	}
	sort.Slice(w.blocks, func(i, j int) bool { return w.blocks[i].bid < w.blocks[j].bid })
	var bl [][]byte
	for _, e := range w.blocks {
		b := make([]byte, 3*bs)
		w.putUint(b, e.bid)
		w.putUint(b[bs:], e.ib)
		binary.LittleEndian.PutUint16(b[2*bs:], uint16(e.cb))
		if w.o.format == formatUnicode4K {
			binary.LittleEndian.PutUint16(b[2*bs+2:], uint16(e.inflated))
			binary.LittleEndian.PutUint16(b[2*bs+4:], 1)
		} else {
			binary.LittleEndian.PutUint16(b[2*bs+2:], 1)
		}
		bl = append(bl, b)
	}
	nbt := w.btree(ptypeNBT, nsize, nl, maxPer)
	bbt := w.btree(ptypeBBT, 3*bs, bl, maxPer)
	w.align(512)
	eof := w.off()
	h := make([]byte, 564)
	if w.out == nil {
		h = w.buf[:564]
	}
	copy(h, "!BDN")
	copy(h[8:], "SM")
	ver := map[format]uint16{formatANSI: 14, formatUnicode: 23, formatUnicode4K: 36}[w.o.format]
	binary.LittleEndian.PutUint16(h[10:], ver)
	binary.LittleEndian.PutUint16(h[12:], 19)
	h[14], h[15] = 1, 1
	if w.o.format == formatANSI {
		binary.LittleEndian.PutUint32(h[168:], uint32(eof))
		binary.LittleEndian.PutUint32(h[184:], uint32(nbt.bid))
		binary.LittleEndian.PutUint32(h[188:], uint32(nbt.ib))
		binary.LittleEndian.PutUint32(h[192:], uint32(bbt.bid))
		binary.LittleEndian.PutUint32(h[196:], uint32(bbt.ib))
		h[460], h[461] = 0x80, w.o.crypt
		binary.LittleEndian.PutUint32(h[4:], pstCRC(h[8:8+471]))
	} else {
		binary.LittleEndian.PutUint64(h[184:], uint64(eof))
		binary.LittleEndian.PutUint64(h[216:], nbt.bid)
		binary.LittleEndian.PutUint64(h[224:], nbt.ib)
		binary.LittleEndian.PutUint64(h[232:], bbt.bid)
		binary.LittleEndian.PutUint64(h[240:], bbt.ib)
		h[512], h[513] = 0x80, w.o.crypt
		binary.LittleEndian.PutUint64(h[516:], w.nextBID)
		binary.LittleEndian.PutUint32(h[4:], pstCRC(h[8:8+471]))
		binary.LittleEndian.PutUint32(h[524:], pstCRC(h[8:8+516]))
	}
	if w.out != nil {
		w.flush(true)
		if _, err := w.out.WriteAt(h, 0); err != nil && w.err == nil {
			w.err = err
		}
	}
	return w.buf
}

// ---- messaging ----

// wMessage is a message to write.
type wMessage struct {
	class    string
	subject  string
	from     string // e-mail address
	fromName string
	to       []string
	cc       []string
	body     string
	html     string
	rtf      []byte // PidTagRtfCompressed
	headers  string
	msgID    string
	flags    int
	date     time.Time
	attach   []wAttach
	props    pcProps         // more properties by tag
	named    map[nameKey]obj // named properties
	// track gives a meeting's recipients their responses
	// (PidTagRecipientTrackStatus) and lists the organizer among them.
	track map[string]int
}

// wAttach is an attachment to write; embedded makes it a message. With
// open, its data is the size bytes open returns, read while they are
// written (in blocks, never as a whole).
type wAttach struct {
	name     string
	mime     string
	data     []byte
	embedded *wMessage
	open     func() io.Reader
	size     int64
	photo    bool // a contact's photo
}

// wFolder is a folder to write.
type wFolder struct {
	name     string
	msgs     []wMessage
	children []*wFolder
}

func entryID(nid uint32) []byte {
	b := make([]byte, 24)
	copy(b[4:], "0123456789abcdef")
	binary.LittleEndian.PutUint32(b[20:], nid)
	return b
}

// message writes the message m and returns its data and subnode BIDs.
func (w *writer) message(m wMessage) (uint64, uint64) {
	p := pcProps{
		propMessageClass:   w.str(m.class),
		propSubject:        w.str(m.subject),
		propMessageFlags:   i32(m.flags),
		propDeliveryTime:   ftime(m.date),
		propSenderName:     w.str(m.fromName),
		propSenderEmail:    w.str(m.from),
		propSenderAddrType: w.str("SMTP"),
	}
	if m.body != "" {
		p[propBody] = w.str(m.body)
	}
	if m.html != "" {
		p[propHTML] = bin([]byte(m.html))
	}
	if m.rtf != nil {
		p[propRtfCompressed] = bin(m.rtf)
	}
	if m.headers != "" {
		p[propTransportHeaders] = w.str(m.headers)
	}
	if m.msgID != "" {
		p[propInternetMessageID] = w.str(m.msgID)
	}
	for id, v := range m.props {
		p[id] = v
	}
	for k, v := range m.named {
		p[w.nameID(k)] = v
	}
	var extra []sub
	// Recipients.
	cols := []uint32{colRecipientType, propDisplayName<<16 | uint32(w.str("").typ), propEmailAddress<<16 | uint32(w.str("").typ), propAddrType<<16 | uint32(w.str("").typ)}
	if m.track != nil {
		cols = append(cols, propRecipientFlags<<16|ptInt32, propRecipientTrackStatus<<16|ptInt32)
	}
	var ids []uint32
	var rows [][]*obj
	add := func(kind int, addr string) {
		k, n, e, t := i32(kind), w.str("Name "+addr), w.str(addr), w.str("SMTP")
		ids = append(ids, uint32(len(ids)))
		row := []*obj{&k, &n, &e, &t}
		if m.track != nil {
			fl, tr := i32(1), i32(m.track[addr])
			if addr == m.from {
				fl = i32(1 | recipOrganizer)
			}
			row = append(row, &fl, &tr)
		}
		rows = append(rows, row)
	}
	if m.track != nil && m.from != "" {
		add(1, m.from) // a meeting lists its organizer among the recipients
	}
	for _, a := range m.to {
		add(1, a)
	}
	for _, a := range m.cc {
		add(2, a)
	}
	d, s := w.tc(cols, ids, rows)
	extra = append(extra, sub{nid: nidRecipientTable, bidData: d, bidSub: s})
	// Attachments.
	if len(m.attach) > 0 {
		acols := []uint32{propAttachMethod<<16 | ptInt32}
		var aids []uint32
		var arows [][]*obj
		for i, a := range m.attach {
			nid := uint32(0x8000+i)<<5 | nidTypeAttachment
			ap := pcProps{propAttachLongFilename: w.str(a.name), propAttachMethod: i32(afByValue)}
			if a.photo {
				ap[propAttachContactPhoto] = boolean(true)
			}
			var asubs []sub
			if a.mime != "" {
				ap[propAttachMimeTag] = w.str(a.mime)
			}
			if a.embedded != nil {
				ap[propAttachMethod] = i32(afEmbeddedMessage)
				enid := w.subNID()
				ed, es := w.message(*a.embedded)
				asubs = append(asubs, sub{nid: enid, bidData: ed, bidSub: es})
				ob := make([]byte, 8)
				binary.LittleEndian.PutUint32(ob, enid)
				ap[propAttachDataBinary] = obj{typ: ptObject, data: ob}
			} else if a.open != nil {
				ap[propAttachDataBinary] = obj{typ: ptBinary, src: a.open(), size: a.size}
			} else {
				ap[propAttachDataBinary] = bin(a.data)
			}
			ad, as := w.pc(ap, asubs)
			extra = append(extra, sub{nid: nid, bidData: ad, bidSub: as})
			meth := ap[propAttachMethod]
			aids = append(aids, nid)
			arows = append(arows, []*obj{&meth})
		}
		d, s := w.tc(acols, aids, arows)
		extra = append(extra, sub{nid: nidAttachmentTable, bidData: d, bidSub: s})
	}
	return w.pc(p, extra)
}

// folderNode writes a folder, its tables, messages and children.
func (w *writer) folderNode(nid, parent uint32, name string, f *wFolder, counter *uint32, msgCounter *uint32) {
	var kids []uint32
	for _, c := range f.children {
		*counter++
		cn := *counter<<5 | nidTypeNormalFolder
		kids = append(kids, cn)
		w.folderNode(cn, nid, c.name, c, counter, msgCounter)
	}
	var mids []uint32
	for _, m := range f.msgs {
		*msgCounter++
		mn := *msgCounter<<5 | nidTypeMessage
		d, s := w.message(m)
		w.node(mn, d, s, nid)
		mids = append(mids, mn)
	}
	d, s := w.pc(pcProps{propDisplayName: w.str(name), propContentCount: i32(len(f.msgs))}, nil)
	w.node(nid, d, s, parent)
	hd, hs := w.tc(nil, kids, make([][]*obj, len(kids)))
	w.node(nid&^0x1F|nidTypeHierarchy, hd, hs, 0)
	cd, cs := w.tc(nil, mids, make([][]*obj, len(mids)))
	w.node(nid&^0x1F|nidTypeContents, cd, cs, 0)
}

// writePST builds a whole file: the store, the root folder, the top of
// the personal folders with top's children below it, and "Search Root".
func writePST(o wOptions, top *wFolder, maxPer int) []byte {
	w := newWriter(o)
	w.content(top)
	return w.finish(maxPer)
}

// writePSTFile writes the file writePST builds to path, block by block:
// memory holds the file's indexes, not its data.
func writePSTFile(path string, o wOptions, top *wFolder, maxPer int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := newWriter(o)
	w.out = f
	w.flush(true)
	w.content(top)
	w.finish(maxPer)
	if err := f.Close(); w.err == nil {
		w.err = err
	}
	return w.err
}

// content writes the store, the root folder, "Search Root" and the top of
// the personal folders with top's children.
func (w *writer) content(top *wFolder) {
	w.namedContent("Test Store", top)
	if len(w.names) > 0 {
		w.nameMap()
	}
}

// namedContent writes what content does but the named-property map, the
// store's display name being store.
func (w *writer) namedContent(store string, top *wFolder) {
	const ipm = 0x8022
	sd, ss := w.pc(pcProps{
		propDisplayName:       w.str(store),
		propRecordKey:         bin([]byte("0123456789abcdef")),
		propIpmSubTreeEntryID: bin(entryID(ipm)),
	}, nil)
	w.node(nidMessageStore, sd, ss, 0)
	rd, rs := w.pc(pcProps{propDisplayName: w.str("")}, nil)
	w.node(nidRootFolder, rd, rs, nidRootFolder)
	search := uint32(0x8042)
	hd, hs := w.tc(nil, []uint32{ipm, search}, make([][]*obj, 2))
	w.node(nidRootFolder&^0x1F|nidTypeHierarchy, hd, hs, 0)
	cd, cs := w.tc(nil, nil, nil)
	w.node(nidRootFolder&^0x1F|nidTypeContents, cd, cs, 0)
	counter, msgs := uint32(0x402), uint32(0x10000)
	w.folderNode(search, nidRootFolder, "Search Root", &wFolder{}, &counter, &msgs)
	w.folderNode(ipm, nidRootFolder, "Top of Personal Folders", top, &counter, &msgs)
}
