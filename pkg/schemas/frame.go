package schemas

import (
	"encoding/binary"
)

// The two framings a value can have. Each is written by exactly one function
// (appendConfluentHeader, appendSingleObjectHeader) and read by exactly one
// (parseConfluentHeader, parseSingleObjectHeader).
const (
	confluentMagic       = byte(0)
	confluentHeaderSz    = 5  // magic + 4-byte big-endian schema id
	singleObjectHeaderSz = 10 // C3 01 + 8-byte little-endian CRC-64-AVRO fingerprint
)

var singleObjectMagic = [2]byte{0xC3, 0x01}

// appendConfluentHeader appends the Confluent wire-format header: magic byte
// 0 and the schema id as 4 big-endian bytes.
func appendConfluentHeader(dst []byte, schemaID uint32) []byte {
	dst = append(dst, confluentMagic)
	return binary.BigEndian.AppendUint32(dst, schemaID)
}

// parseConfluentHeader splits a Confluent-framed value into its schema id and
// Avro body.
func parseConfluentHeader(b []byte) (schemaID uint32, body []byte, err error) {
	if len(b) == 0 {
		return 0, nil, ErrTruncated
	}
	if b[0] != confluentMagic {
		return 0, nil, ErrBadMagic
	}
	if len(b) < confluentHeaderSz {
		return 0, nil, ErrTruncated
	}
	return binary.BigEndian.Uint32(b[1:confluentHeaderSz]), b[confluentHeaderSz:], nil
}

// appendSingleObjectHeader appends the Avro single-object encoding header:
// C3 01 and the schema's CRC-64-AVRO fingerprint as 8 little-endian bytes.
func appendSingleObjectHeader(dst []byte, fingerprint uint64) []byte {
	dst = append(dst, singleObjectMagic[:]...)
	return binary.LittleEndian.AppendUint64(dst, fingerprint)
}

// parseSingleObjectHeader splits a single-object-encoded value into its
// schema fingerprint and Avro body.
func parseSingleObjectHeader(b []byte) (fingerprint uint64, body []byte, err error) {
	if len(b) < len(singleObjectMagic) {
		if len(b) == 0 || b[0] == singleObjectMagic[0] {
			return 0, nil, ErrTruncated
		}
		return 0, nil, ErrBadMagic
	}
	if b[0] != singleObjectMagic[0] || b[1] != singleObjectMagic[1] {
		return 0, nil, ErrBadMagic
	}
	if len(b) < singleObjectHeaderSz {
		return 0, nil, ErrTruncated
	}
	return binary.LittleEndian.Uint64(b[2:singleObjectHeaderSz]), b[singleObjectHeaderSz:], nil
}
