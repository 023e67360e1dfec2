package fleet

import (
	"fmt"
	"log/slog"
)

// Secret holds a password or key. It never shows its value in logs or
// formatted output; JSON (the store's encoding) keeps it.
type Secret []byte

const redacted = "[redacted]"

// String redacts.
func (s Secret) String() string { return redacted }

// GoString redacts (%#v).
func (s Secret) GoString() string { return redacted }

// Format redacts for every verb.
func (s Secret) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Reveal returns the secret's bytes, for the code that must use them.
func (s Secret) Reveal() []byte { return s }

// Empty reports whether no secret is set.
func (s Secret) Empty() bool { return len(s) == 0 }
