package schemas

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// javaMurmur2 is a transcription of Kafka's Utils.murmur2 (the Java
// producer's default partitioner hash), checked below against Kafka's own
// test vectors.
func javaMurmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is Utils.toPositive(Utils.murmur2(key)) % n.
func javaPartition(key []byte, n int) int32 {
	return int32(int64(javaMurmur2(key)&0x7fffffff) % int64(n))
}

func TestJavaMurmur2Vectors(t *testing.T) {
	cases := []struct {
		key  string
		want int32
	}{
		// apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		// Decimal keys like ours, as computed by Kafka's Utils.murmur2
		// (quoted in Akka's Murmur2Spec for its Kafka sharding allocator).
		{"1", -1993445489},
		{"12", 126087238},
		{"123", -267702483},
		{"1234", -1614185708},
		{"12345", -1188365604},
	}
	for _, c := range cases {
		if got := javaMurmur2([]byte(c.key)); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

// TestPartitionMatchesJava: Partition must put a room exactly where a Java
// producer (or any Kafka-compatible one) would, or a room's events would be
// split across partitions by mixed producers.
func TestPartitionMatchesJava(t *testing.T) {
	pinned := []struct {
		id   ID
		n    int
		want int32
	}{
		{21, 12, int32((-973932308 & 0x7fffffff) % 12)},
		{12345, 64, int32((-1188365604 & 0x7fffffff) % 64)},
		{1, 3, int32((-1993445489 & 0x7fffffff) % 3)},
		{1234, 512, int32((-1614185708 & 0x7fffffff) % 512)},
	}
	for _, c := range pinned {
		if got := Partition(c.id, c.n); got != c.want {
			t.Errorf("Partition(%d, %d) = %d, want %d", c.id, c.n, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		id := ID(i + 1)
		if i >= 10000 {
			id = ID(rng.Int64N(1<<62) + 1)
		}
		for _, n := range []int{1, 2, 3, 12, 16, 100, MaxRoomPartitions} {
			got, want := Partition(id, n), javaPartition(Key(id), n)
			if got != want {
				t.Fatalf("Partition(%d, %d) = %d, Java's partitioner says %d", id, n, got, want)
			}
			if got < 0 || int(got) >= n {
				t.Fatalf("Partition(%d, %d) = %d out of range", id, n, got)
			}
		}
	}
}

func TestKeyIsDecimal(t *testing.T) {
	if got := string(Key(1995793265127653376)); got != "1995793265127653376" {
		t.Errorf("Key = %q", got)
	}
}

func TestNamesFor(t *testing.T) {
	def := NamesFor("")
	if def != NamesFor(DefaultPrefix) {
		t.Error(`NamesFor("") differs from NamesFor(DefaultPrefix)`)
	}
	a, b := NamesFor("ta"), NamesFor("tb")
	all := map[string]bool{}
	for _, n := range []Names{def, a, b} {
		for _, s := range []string{n.Rooms, n.Users, n.CommandGroup, n.ProjectorPostgresGroup, n.ProjectorClickHouseGroup, n.Features} {
			if s == "" || all[s] {
				t.Errorf("name %q empty or shared", s)
			}
			all[s] = true
		}
	}
	if !strings.HasPrefix(a.Rooms, "ta.") || !strings.HasPrefix(a.CommandGroup, "ta.") {
		t.Errorf("names do not carry their prefix: %+v", a)
	}
}
