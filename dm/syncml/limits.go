package syncml

// Limits bound what a decoder accepts from one message; zero fields take the
// DefaultLimits value. The decoders also never allocate more than a small
// multiple of the input.
type Limits struct {
	MaxBytes    int // size of the encoded message
	MaxDepth    int // element nesting
	MaxElements int // elements in the message
}

// DefaultLimits fit any DM 1.2 message a real client sends (clients announce
// MaxMsgSize of a few KiB to a few hundred KiB): 4 MiB, depth 32 (a message
// with nested Atomic/Sequence is about 10 deep), 100 000 elements.
var DefaultLimits = Limits{MaxBytes: 4 << 20, MaxDepth: 32, MaxElements: 100_000}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultLimits.MaxElements
	}
	return l
}

func (l Limits) checkSize(b []byte) error {
	if len(b) > l.MaxBytes {
		return &DecodeError{Offset: l.MaxBytes, Msg: "message larger than the limit of " + itoa(l.MaxBytes) + " bytes", Err: ErrTooLarge}
	}
	return nil
}
