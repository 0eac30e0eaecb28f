package pst

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf16"
)

// This file reads the name-to-ID map ([MS-PST] section 2.4.7): named
// properties (a property set GUID with a number or a name) are stored
// under property IDs 0x8000 and up that differ from file to file; the map
// at NID 0x61 says which ID each name has.

// Properties of the name-to-ID map's property context.
const (
	propNameidStreamGUID   = 0x0002
	propNameidStreamEntry  = 0x0003
	propNameidStreamString = 0x0004
)

// guid is a GUID in its stored (little-endian) form.
type guid [16]byte

// mustGUID parses "00062002-0000-0000-C000-000000000046" into its stored
// form: the first three fields little-endian, the rest as written.
func mustGUID(s string) guid {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	var g guid
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g
}

// Property sets ([MS-OXPROPS] section 1.3.2).
var (
	psetidAppointment = mustGUID("00062002-0000-0000-C000-000000000046")
	psetidTask        = mustGUID("00062003-0000-0000-C000-000000000046")
	psetidAddress     = mustGUID("00062004-0000-0000-C000-000000000046")
	psetidCommon      = mustGUID("00062008-0000-0000-C000-000000000046")
	psetidLog         = mustGUID("0006200A-0000-0000-C000-000000000046")
	psetidNote        = mustGUID("0006200E-0000-0000-C000-000000000046")
	psetidMeeting     = mustGUID("6ED8DA90-450B-101B-98DA-00AA003F1305")
	psMAPI            = mustGUID("00020328-0000-0000-C000-000000000046")
	psPublicStrings   = mustGUID("00020329-0000-0000-C000-000000000046")
)

// nameKey is a named property: its set and its number (lid) or name.
type nameKey struct {
	set  guid
	lid  uint32
	name string
}

// lid names a property by number, str by name.
func lid(set guid, id uint32) nameKey    { return nameKey{set: set, lid: id} }
func strName(set guid, s string) nameKey { return nameKey{set: set, name: s} }

// readNames reads the name-to-ID map. A file without one, or with a
// damaged one, has no named properties: mail reads as before, and items
// lose what only named properties hold.
func (f *file) readNames() map[nameKey]uint16 {
	out := map[nameKey]uint16{}
	n, err := f.openNode(nidNameToIDMap)
	if err != nil {
		return out
	}
	p, err := n.openPC()
	if err != nil {
		return out
	}
	get := func(id uint16) []byte {
		v, ok, err := p.get(id)
		if err != nil || !ok {
			return nil
		}
		return v.data
	}
	guids, entries, strs := get(propNameidStreamGUID), get(propNameidStreamEntry), get(propNameidStreamString)
	for i := 0; i+8 <= len(entries); i += 8 {
		id := binary.LittleEndian.Uint32(entries[i:])
		g := binary.LittleEndian.Uint16(entries[i+4:])
		idx := binary.LittleEndian.Uint16(entries[i+6:])
		var k nameKey
		switch gi := int(g >> 1); gi {
		case 0:
			continue // no property set
		case 1:
			k.set = psMAPI
		case 2:
			k.set = psPublicStrings
		default:
			off := 16 * (gi - 3)
			if off+16 > len(guids) {
				continue
			}
			copy(k.set[:], guids[off:off+16])
		}
		if g&1 == 0 {
			k.lid = id
		} else {
			s, ok := nameAt(strs, int(id))
			if !ok {
				continue
			}
			k.name = s
		}
		out[k] = 0x8000 + idx
	}
	return out
}

// nameAt reads the name at off in the string stream: a 4-byte length and
// that many bytes of UTF-16.
func nameAt(strs []byte, off int) (string, bool) {
	if off < 0 || off+4 > len(strs) {
		return "", false
	}
	n := int(binary.LittleEndian.Uint32(strs[off:]))
	if n > len(strs)-off-4 || n%2 != 0 {
		return "", false
	}
	b := strs[off+4 : off+4+n]
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), true
}
