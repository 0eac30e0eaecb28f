// Package rtf reads the RTF bodies that Outlook keeps in PST files: it
// decompresses PidTagRtfCompressed ([MS-OXRTFCP]), recovers the original
// HTML that Outlook encapsulated in RTF ([MS-OXRTFEX]) and turns any RTF into
// plain text. It never panics on malformed input.
package rtf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrCorrupt is returned (wrapped) by Decompress for input that is not a
// valid compressed RTF stream: too short, truncated, an unknown compression
// type, a CRC mismatch, or a stream that does not decode to RAWSIZE bytes.
var ErrCorrupt = errors.New("corrupt compressed RTF")

// ErrTooLarge is returned (wrapped) by Decompress when the header announces
// more than MaxRawSize bytes of RTF, or more than the compressed contents
// could possibly expand to.
var ErrTooLarge = errors.New("compressed RTF too large")

// MaxRawSize is the largest decompressed RTF that Decompress accepts
// (64 MiB). An RTF body is the text of one message; real ones are a few
// kilobytes to a few megabytes, and the limit keeps a corrupt header from
// making Decompress allocate gigabytes.
const MaxRawSize = 64 << 20

const (
	headerSize = 16
	// typeCompressed is COMPTYPE "LZFu": LZ77-style compressed contents.
	typeCompressed = 0x75465A4C
	// typeUncompressed is COMPTYPE "MELA": the RTF stored as it is.
	typeUncompressed = 0x414C454D

	dictSize = 4096
	dictMask = dictSize - 1

	// maxExpansion bounds what compressed contents can decode to: one
	// control byte and eight 2-byte references (17 bytes) yield at most
	// 8*17 = 136 bytes, so n bytes never decode to more than 8n+136.
	maxExpansion = 8
)

// initialDict is the string the 4096-byte dictionary starts with
// ([MS-OXRTFCP] 3.1.1.1.1); writing continues at offset len(initialDict).
const initialDict = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

// checksum is the CRC of [MS-OXRTFCP] 3.1.3.2: the CRC-32 table of IEEE
// 802.3 (reflected polynomial 0xEDB88320), but starting from 0 and without
// the final inversion.
func checksum(p []byte) uint32 {
	// crc32.Update inverts on entry and exit; undo both.
	return ^crc32.Update(^uint32(0), crc32.IEEETable, p)
}

// Decompress returns the RTF held in a PidTagRtfCompressed value: either
// LZFu-compressed contents, whose CRC is checked, or MELA (stored as it is).
// The 16-byte header's COMPSIZE must fit in data (bytes after it are
// ignored); the result is exactly RAWSIZE bytes. RAWSIZE above MaxRawSize,
// or above what LZFu contents could expand to (8 times their size plus 136
// bytes), is refused with ErrTooLarge before anything is allocated; MELA
// contents shorter than RAWSIZE are ErrCorrupt. Every error wraps
// ErrCorrupt or ErrTooLarge.
func Decompress(data []byte) ([]byte, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, len(data), headerSize)
	}
	compSize := binary.LittleEndian.Uint32(data[0:])
	rawSize := binary.LittleEndian.Uint32(data[4:])
	compType := binary.LittleEndian.Uint32(data[8:])
	crc := binary.LittleEndian.Uint32(data[12:])
	if compSize < headerSize-4 {
		return nil, fmt.Errorf("%w: COMPSIZE %d is smaller than the rest of the header", ErrCorrupt, compSize)
	}
	if uint64(compSize)+4 > uint64(len(data)) {
		return nil, fmt.Errorf("%w: truncated: COMPSIZE says %d bytes follow, only %d do", ErrCorrupt, compSize, len(data)-4)
	}
	contents := data[headerSize : 4+int(compSize)]
	if rawSize > MaxRawSize {
		return nil, fmt.Errorf("%w: RAWSIZE %d exceeds the limit of %d bytes", ErrTooLarge, rawSize, MaxRawSize)
	}
	switch compType {
	case typeUncompressed:
		if int(rawSize) > len(contents) {
			return nil, fmt.Errorf("%w: truncated: RAWSIZE %d, only %d bytes stored", ErrCorrupt, rawSize, len(contents))
		}
		return append([]byte(nil), contents[:rawSize]...), nil
	case typeCompressed:
		if got := checksum(contents); got != crc {
			return nil, fmt.Errorf("%w: CRC %08x, header says %08x", ErrCorrupt, got, crc)
		}
		if uint64(rawSize) > maxExpansion*uint64(len(contents))+136 {
			return nil, fmt.Errorf("%w: RAWSIZE %d cannot come from %d compressed bytes", ErrTooLarge, rawSize, len(contents))
		}
		return decompress(contents, int(rawSize))
	default:
		return nil, fmt.Errorf("%w: unknown COMPTYPE %08x", ErrCorrupt, compType)
	}
}

// decompress decodes LZFu contents that must yield exactly rawSize bytes.
func decompress(in []byte, rawSize int) ([]byte, error) {
	var dict [dictSize]byte
	copy(dict[:], initialDict)
	w := len(initialDict)
	out := make([]byte, 0, rawSize)
	i := 0
	for i < len(in) {
		control := in[i]
		i++
		for bit := 0; bit < 8; bit++ {
			if i >= len(in) && len(out) == rawSize {
				// Input ends at a token boundary with the whole result:
				// accepted, as some writers stop after the last token.
				return out, nil
			}
			if control&(1<<bit) == 0 {
				if i >= len(in) {
					return nil, fmt.Errorf("%w: truncated: literal expected at offset %d", ErrCorrupt, headerSize+i)
				}
				if len(out) == rawSize {
					return nil, fmt.Errorf("%w: decodes to more than RAWSIZE %d bytes", ErrCorrupt, rawSize)
				}
				c := in[i]
				i++
				out = append(out, c)
				dict[w] = c
				w = (w + 1) & dictMask
				continue
			}
			if i+1 >= len(in) {
				return nil, fmt.Errorf("%w: truncated: reference expected at offset %d", ErrCorrupt, headerSize+i)
			}
			ref := int(in[i])<<8 | int(in[i+1])
			i += 2
			offset, n := ref>>4, ref&0xF+2
			if offset == w {
				// A reference to the write position ends the stream.
				if len(out) != rawSize {
					return nil, fmt.Errorf("%w: ends after %d of RAWSIZE %d bytes", ErrCorrupt, len(out), rawSize)
				}
				return out, nil
			}
			if len(out)+n > rawSize {
				return nil, fmt.Errorf("%w: decodes to more than RAWSIZE %d bytes", ErrCorrupt, rawSize)
			}
			for k := 0; k < n; k++ {
				c := dict[(offset+k)&dictMask]
				out = append(out, c)
				dict[w] = c
				w = (w + 1) & dictMask
			}
		}
	}
	// Input exhausted without the end reference.
	if len(out) != rawSize {
		return nil, fmt.Errorf("%w: truncated: no end marker after %d of RAWSIZE %d bytes", ErrCorrupt, len(out), rawSize)
	}
	return out, nil
}
