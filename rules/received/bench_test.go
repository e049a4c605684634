package received

import "testing"

func BenchmarkParse(b *testing.B) {
	lines := sampleLines(b)
	var n int
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := Parse(lines[i%len(lines)])
		if h.Raw == "" {
			b.Fatal("empty")
		}
	}
}
