package pst

import (
	"encoding/binary"
	"fmt"
)

// This file is the lists, tables and properties layer (LTP) of [MS-PST]
// section 2.3: the heap-on-node (HN), the B-tree-on-heap (BTH), property
// contexts (PC) and table contexts (TC).

// Client signatures of a heap ([MS-PST] section 2.3.1.2).
const (
	sigHN = 0xEC
	sigTC = 0x7C
	sigBT = 0xB5
	sigPC = 0xBC
)

const maxHeapCache = 64 // heap blocks kept per heap

// heap is a heap-on-node: allocations addressed by HID across the node's
// data blocks.
type heap struct {
	n      *node
	s      *stream
	client byte
	root   uint32
	blocks map[int][]byte
}

// openHeap opens the heap stored in n's data.
func (n *node) openHeap() (*heap, error) {
	s, err := n.data()
	if err != nil {
		return nil, err
	}
	h := &heap{n: n, s: s, blocks: map[int][]byte{}}
	if s.blocks() == 0 {
		return nil, corruptf("node %#x: empty heap", n.nid)
	}
	b, err := h.block(0)
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || b[2] != sigHN {
		return nil, corruptf("node %#x: not a heap-on-node", n.nid)
	}
	h.client = b[3]
	h.root = binary.LittleEndian.Uint32(b[4:])
	return h, nil
}

func (h *heap) block(i int) ([]byte, error) {
	if b, ok := h.blocks[i]; ok {
		return b, nil
	}
	b, err := h.s.block(i)
	if err != nil {
		return nil, fmt.Errorf("node %#x: %w", h.n.nid, err)
	}
	if len(h.blocks) >= maxHeapCache {
		clear(h.blocks)
	}
	h.blocks[i] = b
	return b, nil
}

// alloc returns the bytes of the allocation hid; hid 0 is empty.
func (h *heap) alloc(hid uint32) ([]byte, error) {
	if hid == 0 {
		return nil, nil
	}
	if hid&0x1F != nidTypeHID {
		return nil, corruptf("node %#x: %#x is not a HID", h.n.nid, hid)
	}
	index := int(hid>>5) & 0x7FF
	bi := int(hid >> 16)
	if bi >= h.s.blocks() {
		return nil, corruptf("node %#x: HID %#x in block %d of %d", h.n.nid, hid, bi, h.s.blocks())
	}
	b, err := h.block(bi)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, corruptf("node %#x: heap block %d too short", h.n.nid, bi)
	}
	pm := int(binary.LittleEndian.Uint16(b))
	if pm+4 > len(b) {
		return nil, corruptf("node %#x: heap block %d: page map at %d beyond %d bytes", h.n.nid, bi, pm, len(b))
	}
	count := int(binary.LittleEndian.Uint16(b[pm:]))
	if index == 0 || index > count || pm+4+2*(count+1) > len(b) {
		return nil, corruptf("node %#x: HID %#x: allocation %d of %d", h.n.nid, hid, index, count)
	}
	start := int(binary.LittleEndian.Uint16(b[pm+4+2*(index-1):]))
	end := int(binary.LittleEndian.Uint16(b[pm+4+2*index:]))
	if start > end || end > pm {
		return nil, corruptf("node %#x: HID %#x: allocation %d-%d outside the heap block", h.n.nid, hid, start, end)
	}
	return b[start:end], nil
}

// bth is a B-tree-on-heap.
type bth struct {
	h            *heap
	cbKey, cbEnt int
	levels       int
	root         uint32
}

func (h *heap) openBTH(hid uint32) (*bth, error) {
	b, err := h.alloc(hid)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 || b[0] != sigBT {
		return nil, corruptf("node %#x: HID %#x is not a BTH header", h.n.nid, hid)
	}
	t := &bth{h: h, cbKey: int(b[1]), cbEnt: int(b[2]), levels: int(b[3]), root: binary.LittleEndian.Uint32(b[4:])}
	if t.cbKey != 2 && t.cbKey != 4 && t.cbKey != 8 && t.cbKey != 16 {
		return nil, corruptf("node %#x: BTH key size %d", h.n.nid, t.cbKey)
	}
	if t.cbEnt < 1 || t.cbEnt > 32 {
		return nil, corruptf("node %#x: BTH entry size %d", h.n.nid, t.cbEnt)
	}
	if t.levels > maxBTreeDepth {
		return nil, corruptf("node %#x: BTH of %d levels", h.n.nid, t.levels)
	}
	return t, nil
}

// each calls fn with every leaf record, in key order.
func (t *bth) each(fn func(key, val []byte) error) error {
	seen := map[uint32]bool{}
	var walk func(hid uint32, level int) error
	walk = func(hid uint32, level int) error {
		if seen[hid] {
			return corruptf("node %#x: BTH refers to HID %#x twice", t.h.n.nid, hid)
		}
		seen[hid] = true
		b, err := t.h.alloc(hid)
		if err != nil {
			return err
		}
		if level == 0 {
			rs := t.cbKey + t.cbEnt
			for i := 0; i+rs <= len(b); i += rs {
				if err := fn(b[i:i+t.cbKey], b[i+t.cbKey:i+rs]); err != nil {
					return err
				}
			}
			return nil
		}
		rs := t.cbKey + 4
		for i := 0; i+rs <= len(b); i += rs {
			if err := walk(binary.LittleEndian.Uint32(b[i+t.cbKey:]), level-1); err != nil {
				return err
			}
		}
		return nil
	}
	if t.root == 0 {
		return nil
	}
	return walk(t.root, t.levels)
}

// pcEntry is one property of a property context.
type pcEntry struct {
	typ uint16
	raw uint32 // the value, or the HNID of a larger value
}

// pc is a property context: the properties of a folder, message,
// attachment or the store.
type pc struct {
	n     *node
	h     *heap
	props map[uint16]pcEntry
}

// openPC opens the property context stored in n.
func (n *node) openPC() (*pc, error) {
	h, err := n.openHeap()
	if err != nil {
		return nil, err
	}
	if h.client != sigPC {
		return nil, corruptf("node %#x is not a property context (client signature %#x)", n.nid, h.client)
	}
	t, err := h.openBTH(h.root)
	if err != nil {
		return nil, err
	}
	if t.cbKey != 2 || t.cbEnt != 6 {
		return nil, corruptf("node %#x: property context with keys of %d and entries of %d bytes", n.nid, t.cbKey, t.cbEnt)
	}
	p := &pc{n: n, h: h, props: map[uint16]pcEntry{}}
	err = t.each(func(k, v []byte) error {
		p.props[binary.LittleEndian.Uint16(k)] = pcEntry{typ: binary.LittleEndian.Uint16(v), raw: binary.LittleEndian.Uint32(v[2:])}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// get returns the property id's value; ok is false if it is absent.
func (p *pc) get(id uint16) (v value, ok bool, err error) {
	e, ok := p.props[id]
	if !ok {
		return value{}, false, nil
	}
	v.typ = e.typ
	if sz := fixedSize(e.typ); sz > 0 && sz <= 4 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], e.raw)
		v.data = b[:sz]
		return v, true, nil
	}
	v.data, err = hnidBytes(p.n, p.h, e.raw)
	if err != nil {
		return value{}, false, fmt.Errorf("property %#04x: %w", id, err)
	}
	return v, true, nil
}

// stream returns a property's value as a stream, without reading it into
// memory when it lives in a subnode.
func (p *pc) stream(id uint16) (*stream, []byte, error) {
	e, ok := p.props[id]
	if !ok {
		return nil, nil, nil
	}
	if e.raw&0x1F == nidTypeHID {
		b, err := p.h.alloc(e.raw)
		return nil, b, err
	}
	sn, err := p.n.sub(e.raw)
	if err != nil {
		return nil, nil, err
	}
	s, err := sn.data()
	return s, nil, err
}

// hnidBytes reads the value an HNID points at: a heap allocation of h, or
// the data of a subnode of n.
func hnidBytes(n *node, h *heap, hnid uint32) ([]byte, error) {
	if hnid&0x1F == nidTypeHID {
		return h.alloc(hnid)
	}
	sn, err := n.sub(hnid)
	if err != nil {
		return nil, err
	}
	s, err := sn.data()
	if err != nil {
		return nil, err
	}
	return s.bytes(maxValueInMem)
}

// tcCol describes one column of a table context.
type tcCol struct {
	tag  uint32
	ib   int
	cb   int
	ibit int
}

// tc is a table context: rows of properties (hierarchy, contents,
// recipient and attachment tables).
type tc struct {
	n       *node
	h       *heap
	cols    map[uint32]tcCol
	rowSize int
	ceb     int // offset of the cell existence bitmap
	nrows   int
	inHeap  []byte  // the row matrix when it lives in the heap
	s       *stream // the row matrix when it lives in a subnode
	perBlk  int     // rows per data block of s
	cur     int     // index of the block in blk
	blk     []byte
}

// openTC opens the table context stored in n.
func (n *node) openTC() (*tc, error) {
	h, err := n.openHeap()
	if err != nil {
		return nil, err
	}
	if h.client != sigTC {
		return nil, corruptf("node %#x is not a table context (client signature %#x)", n.nid, h.client)
	}
	info, err := h.alloc(h.root)
	if err != nil {
		return nil, err
	}
	if len(info) < 22 || info[0] != sigTC {
		return nil, corruptf("node %#x: bad TCINFO", n.nid)
	}
	ncols := int(info[1])
	if len(info) < 22+8*ncols {
		return nil, corruptf("node %#x: TCINFO of %d bytes for %d columns", n.nid, len(info), ncols)
	}
	t := &tc{n: n, h: h, cols: map[uint32]tcCol{}, cur: -1}
	t.ceb = int(binary.LittleEndian.Uint16(info[6:]))
	t.rowSize = int(binary.LittleEndian.Uint16(info[8:]))
	rowIndex := binary.LittleEndian.Uint32(info[10:])
	rows := binary.LittleEndian.Uint32(info[14:])
	for i := 0; i < ncols; i++ {
		d := info[22+8*i:]
		c := tcCol{tag: binary.LittleEndian.Uint32(d), ib: int(binary.LittleEndian.Uint16(d[4:])), cb: int(d[6]), ibit: int(d[7])}
		if c.ib+c.cb > t.rowSize || t.ceb+c.ibit/8 >= t.rowSize {
			return nil, corruptf("node %#x: column %#08x outside the row of %d bytes", n.nid, c.tag, t.rowSize)
		}
		t.cols[c.tag] = c
	}
	if t.rowSize == 0 || rows == 0 {
		return t, nil
	}
	// The row index holds one record per row.
	idx, err := h.openBTH(rowIndex)
	if err != nil {
		return nil, err
	}
	if err := idx.each(func(k, v []byte) error { t.nrows++; return nil }); err != nil {
		return nil, err
	}
	var avail int
	if rows&0x1F == nidTypeHID {
		t.inHeap, err = h.alloc(rows)
		if err != nil {
			return nil, err
		}
		avail = len(t.inHeap) / t.rowSize
	} else {
		sn, err := n.sub(rows)
		if err != nil {
			return nil, err
		}
		if t.s, err = sn.data(); err != nil {
			return nil, err
		}
		if t.s.blocks() > 0 {
			first, err := t.s.block(0)
			if err != nil {
				return nil, err
			}
			t.perBlk = len(first) / t.rowSize
			if t.perBlk == 0 {
				return nil, corruptf("node %#x: row of %d bytes larger than a block", n.nid, t.rowSize)
			}
			avail = int(t.s.total / int64(t.rowSize))
		}
	}
	if t.nrows > avail {
		t.nrows = avail
	}
	return t, nil
}

// row returns row i.
func (t *tc) row(i int) ([]byte, error) {
	if i < 0 || i >= t.nrows {
		return nil, corruptf("node %#x: row %d of %d", t.n.nid, i, t.nrows)
	}
	if t.s == nil {
		return t.inHeap[i*t.rowSize : (i+1)*t.rowSize], nil
	}
	bi, off := i/t.perBlk, (i%t.perBlk)*t.rowSize
	if bi != t.cur {
		b, err := t.s.block(bi)
		if err != nil {
			return nil, err
		}
		t.blk, t.cur = b, bi
	}
	if off+t.rowSize > len(t.blk) {
		return nil, corruptf("node %#x: row %d beyond its block", t.n.nid, i)
	}
	return t.blk[off : off+t.rowSize], nil
}

// cell returns the value of the column with tag in row, if the row has it.
func (t *tc) cell(row []byte, tag uint32) (v value, ok bool, err error) {
	c, ok := t.cols[tag]
	if !ok {
		return value{}, false, nil
	}
	if row[t.ceb+c.ibit/8]&(0x80>>(c.ibit%8)) == 0 {
		return value{}, false, nil
	}
	v.typ = uint16(tag)
	cellData := row[c.ib : c.ib+c.cb]
	if sz := fixedSize(v.typ); sz > 0 && sz == c.cb {
		v.data = cellData
		return v, true, nil
	}
	if c.cb != 4 {
		return value{}, false, corruptf("node %#x: column %#08x of %d bytes", t.n.nid, tag, c.cb)
	}
	v.data, err = hnidBytes(t.n, t.h, binary.LittleEndian.Uint32(cellData))
	if err != nil {
		return value{}, false, err
	}
	return v, true, nil
}

// rowID returns the row's PidTagLtpRowId: the NID of the object it lists.
func (t *tc) rowID(row []byte) (uint32, bool) {
	v, ok, err := t.cell(row, tagLtpRowID)
	if err != nil || !ok || len(v.data) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v.data), true
}
