package flvtag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AMF0 type markers (AMF0 specification, section 2.1).
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0a
	amf0Date        = 0x0b
	amf0LongString  = 0x0c
)

// Limits of the AMF0 reader. Script data tags from publishers carry a few
// dozen metadata keys; anything much larger is garbage or an attack.
const (
	// maxAMF0Depth bounds nesting (objects in arrays in objects...).
	maxAMF0Depth = 16
	// maxAMF0Items bounds the total number of values decoded from one buffer.
	maxAMF0Items = 4096
)

// Property is one key/value of an AMF0 object or ECMA array, in order.
type Property struct {
	Key   string
	Value any
}

// Object is an AMF0 object or ECMA array: ordered properties.
type Object []Property

// Get returns the value of key.
func (o Object) Get(key string) (any, bool) {
	for _, p := range o {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// appendAMF0String appends a short string value.
func appendAMF0String(b []byte, s string) []byte {
	b = append(b, amf0String)
	return appendAMF0Key(b, s)
}

func appendAMF0Key(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendAMF0Number(b []byte, v float64) []byte {
	b = append(b, amf0Number)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendAMF0Bool(b []byte, v bool) []byte {
	if v {
		return append(b, amf0Boolean, 1)
	}
	return append(b, amf0Boolean, 0)
}

// AppendAMF0 appends the AMF0 encoding of v: float64, int, bool, string, nil,
// Object (as an ECMA array) are supported.
func AppendAMF0(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, amf0Null), nil
	case float64:
		return appendAMF0Number(b, v), nil
	case int:
		return appendAMF0Number(b, float64(v)), nil
	case bool:
		return appendAMF0Bool(b, v), nil
	case string:
		if len(v) > math.MaxUint16 {
			b = append(b, amf0LongString)
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			return append(b, v...), nil
		}
		return appendAMF0String(b, v), nil
	case Object:
		b = append(b, amf0ECMAArray)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		var err error
		for _, p := range v {
			b = appendAMF0Key(b, p.Key)
			if b, err = AppendAMF0(b, p.Value); err != nil {
				return nil, err
			}
		}
		return append(b, 0, 0, amf0ObjectEnd), nil
	default:
		return nil, fmt.Errorf("amf0: cannot encode %T", v)
	}
}

var errAMF0Short = errors.New("amf0: truncated value")

type amf0Decoder struct {
	b     []byte
	items int
}

// DecodeAMF0 decodes all values in b. Objects and ECMA arrays become Object,
// strict arrays []any, numbers and dates float64, null/undefined nil.
func DecodeAMF0(b []byte) ([]any, error) {
	d := amf0Decoder{b: b}
	var out []any
	for len(d.b) > 0 {
		v, err := d.value(0)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *amf0Decoder) need(n int) error {
	if len(d.b) < n {
		return errAMF0Short
	}
	return nil
}

func (d *amf0Decoder) key() (string, error) {
	if err := d.need(2); err != nil {
		return "", err
	}
	n := int(binary.BigEndian.Uint16(d.b))
	if err := d.need(2 + n); err != nil {
		return "", err
	}
	s := string(d.b[2 : 2+n])
	d.b = d.b[2+n:]
	return s, nil
}

func (d *amf0Decoder) value(depth int) (any, error) {
	if depth > maxAMF0Depth {
		return nil, fmt.Errorf("amf0: nesting deeper than %d", maxAMF0Depth)
	}
	d.items++
	if d.items > maxAMF0Items {
		return nil, fmt.Errorf("amf0: more than %d values", maxAMF0Items)
	}
	if err := d.need(1); err != nil {
		return nil, err
	}
	marker := d.b[0]
	d.b = d.b[1:]
	switch marker {
	case amf0Number:
		if err := d.need(8); err != nil {
			return nil, err
		}
		v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
		return v, nil
	case amf0Boolean:
		if err := d.need(1); err != nil {
			return nil, err
		}
		v := d.b[0] != 0
		d.b = d.b[1:]
		return v, nil
	case amf0String:
		return d.key()
	case amf0LongString:
		if err := d.need(4); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(d.b)
		if uint64(n) > uint64(len(d.b)-4) {
			return nil, errAMF0Short
		}
		s := string(d.b[4 : 4+n])
		d.b = d.b[4+n:]
		return s, nil
	case amf0Null, amf0Undefined:
		return nil, nil
	case amf0Date:
		if err := d.need(10); err != nil {
			return nil, err
		}
		v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[10:]
		return v, nil
	case amf0ECMAArray:
		if err := d.need(4); err != nil {
			return nil, err
		}
		d.b = d.b[4:] // the count is advisory; the end marker terminates
		return d.object(depth)
	case amf0Object:
		return d.object(depth)
	case amf0StrictArray:
		if err := d.need(4); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(d.b)
		d.b = d.b[4:]
		if n > maxAMF0Items || int(n) > len(d.b) {
			return nil, fmt.Errorf("amf0: strict array of %d items in %d bytes", n, len(d.b))
		}
		arr := make([]any, 0, n)
		for range n {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	default:
		return nil, fmt.Errorf("amf0: unsupported type marker 0x%02x", marker)
	}
}

func (d *amf0Decoder) object(depth int) (Object, error) {
	var o Object
	for {
		if len(d.b) >= 3 && d.b[0] == 0 && d.b[1] == 0 && d.b[2] == amf0ObjectEnd {
			d.b = d.b[3:]
			return o, nil
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		o = append(o, Property{Key: k, Value: v})
	}
}
