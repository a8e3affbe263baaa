// etcdload: a small gRPC load generator for etcd 3.4, the reference the
// rangekv client benchmark compares with. It speaks etcd's own client
// library (clientv3, from Debian's golang-etcd-server-dev), the way etcd's
// tools/benchmark does: `clients` goroutines share `conns` connections and
// issue `total` requests, one outstanding request per goroutine.
//
//	etcdload -endpoints H:P[,H:P...] -op put|range [-clients N] [-conns N]
//	         [-total N] [-key-size 16] [-val-size 128] [-key-space 100000]
//	         [-sequential] [-consistency l|s] [-target-leader]
//
// Keys are key-size bytes holding a varint of a key number drawn uniformly
// from [0, key-space) (or 0, 1, 2, ... with -sequential); values are
// val-size random bytes. -target-leader sends everything to the current
// leader; otherwise connection i goes to endpoint i mod len(endpoints).
// Prints one line: total=N errors=N secs=S req_per_s=R avg_ms=A p50_ms=P
// p99_ms=Q (latency of successful requests).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func dial(ep string) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdload: dial", ep, err)
		os.Exit(1)
	}
	return c
}

func leaderOf(eps []string) string {
	for _, ep := range eps {
		c := dial(ep)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Status(ctx, ep)
		cancel()
		c.Close()
		if err == nil && st.Header.MemberId == st.Leader {
			return ep
		}
	}
	fmt.Fprintln(os.Stderr, "etcdload: no leader among", eps)
	os.Exit(1)
	return ""
}

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated host:port list")
	op := flag.String("op", "put", "put or range")
	clients := flag.Int("clients", 1, "concurrent requests (goroutines)")
	conns := flag.Int("conns", 1, "gRPC connections the clients share")
	total := flag.Int64("total", 10000, "requests in all")
	keySize := flag.Int("key-size", 16, "key bytes")
	valSize := flag.Int("val-size", 128, "value bytes")
	keySpace := flag.Int("key-space", 100000, "distinct keys")
	sequential := flag.Bool("sequential", false, "keys 0, 1, 2, ... instead of random")
	consistency := flag.String("consistency", "l", "range reads: l (linearizable) or s (serializable)")
	targetLeader := flag.Bool("target-leader", false, "send every request to the leader")
	flag.Parse()
	if *op != "put" && *op != "range" {
		fmt.Fprintln(os.Stderr, "etcdload: -op must be put or range")
		os.Exit(2)
	}
	eps := strings.Split(*endpoints, ",")
	if *targetLeader {
		eps = []string{leaderOf(eps)}
	}
	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		cs[i] = dial(eps[i%len(eps)])
	}
	val := make([]byte, *valSize)
	rand.Read(val)
	var next, errs int64
	lats := make([][]time.Duration, *clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			rng := rand.New(rand.NewSource(int64(w) + time.Now().UnixNano()))
			key := make([]byte, *keySize)
			for {
				n := atomic.AddInt64(&next, 1) - 1
				if n >= *total {
					return
				}
				k := int64(rng.Intn(*keySpace))
				if *sequential {
					k = n % int64(*keySpace)
				}
				for i := range key {
					key[i] = 0
				}
				binary.PutVarint(key, k)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				var err error
				if *op == "put" {
					_, err = c.Put(ctx, string(key), string(val))
				} else if *consistency == "s" {
					_, err = c.Get(ctx, string(key), clientv3.WithSerializable())
				} else {
					_, err = c.Get(ctx, string(key))
				}
				d := time.Since(t0)
				cancel()
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				lats[w] = append(lats[w], d)
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	var sum time.Duration
	for _, l := range lats {
		all = append(all, l...)
		for _, d := range l {
			sum += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	avg, p50, p99 := 0.0, 0.0, 0.0
	if n := len(all); n > 0 {
		avg = ms(sum) / float64(n)
		p50 = ms(all[n/2])
		p99 = ms(all[n*99/100])
	}
	fmt.Printf("total=%d errors=%d secs=%.3f req_per_s=%.1f avg_ms=%.3f p50_ms=%.3f p99_ms=%.3f\n",
		*total, errs, secs, float64(len(all))/secs, avg, p50, p99)
	for _, c := range cs {
		c.Close()
	}
	if errs > 0 {
		os.Exit(1)
	}
}
