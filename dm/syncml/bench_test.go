package syncml

import (
	"os"
	"testing"
)

// benchVectors are a client package 1 and a server package 2, the messages a
// DM session spends its time on.
var benchVectors = []string{"c2s-pkg1-md5", "s2c-pkg2-fumo"}

func benchInput(b *testing.B, name, ext string) []byte {
	data, err := os.ReadFile("testdata/vectors/libwbxml2/" + name + ext)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeXML(b *testing.B) {
	for _, name := range benchVectors {
		b.Run(name, func(b *testing.B) {
			data := benchInput(b, name, ".xml")
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeXML(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeWBXML(b *testing.B) {
	for _, name := range benchVectors {
		b.Run(name, func(b *testing.B) {
			data := benchInput(b, name, ".wbxml")
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeWBXML(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchEncode(b *testing.B, enc Encoding) {
	for _, name := range benchVectors {
		b.Run(name, func(b *testing.B) {
			m, err := DecodeXML(benchInput(b, name, ".xml"))
			if err != nil {
				b.Fatal(err)
			}
			out, err := Encode(m, enc)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(m, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeXML(b *testing.B)   { benchEncode(b, EncodingXML) }
func BenchmarkEncodeWBXML(b *testing.B) { benchEncode(b, EncodingWBXML) }
