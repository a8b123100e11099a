// Command godevices plays the glasses for bench/sessions.py --go-devices: one LiveKit participant
// per room, each sending 1-byte-header PCM16 data packets in real time, at the Go SDK's cost (pion)
// instead of the Python SDK's (libwebrtc), so the load generator leaves the cores to the bridge.
//
// It reads one JSON line on stdin ({"url", "tokens", "chunk_ms", "seconds", "pcm", "spread", "report"}), joins every room,
// prints "ready", waits for "go", sends for the given seconds, prints "done", and leaves every
// room when stdin says "leave" or closes. Each packet's PCM carries the lab's stamp (putStamp):
// its sequence number in sample 0 and its send time (Unix ns, 4 little-endian 16-bit
// words) in samples 1-4, so the gRPC client measures device -> client latency on the same clock.
// The audio is the raw 16 kHz mono s16le file named by "pcm" (bench/sessions.py writes the
// workload's device side there: speech in turns, a tone, or silence), or a 440 Hz tone without it.
// With "spread", room i starts i/N of a chunk later, as independent devices would, instead of
// every room sending in the same millisecond (a burst the receivers must queue).
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

const deviceRate = 16000

type job struct {
	URL     string   `json:"url"`
	Tokens  []string `json:"tokens"`
	ChunkMS int      `json:"chunk_ms"`
	Seconds float64  `json:"seconds"`
	PCM     string   `json:"pcm"`
	Spread  bool     `json:"spread"`
	Report  string   `json:"report"`
}

// report is what the devices write to the job's "report" file after "done": how late each send
// was against its schedule, in ms (the load generator's own overrun: a send this late is the
// generator's delay, not the bridge's), and the publish errors.
type report struct {
	LateMS        []float64 `json:"late_ms"`
	PublishErrors int       `json:"publish_errors"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "godevices:", err)
		os.Exit(1)
	}
}

func run() error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	if !in.Scan() {
		return fmt.Errorf("no job on stdin")
	}
	var j job
	if err := json.Unmarshal(in.Bytes(), &j); err != nil {
		return fmt.Errorf("bad job: %w", err)
	}
	audio, err := loadAudio(j)
	if err != nil {
		return err
	}
	rooms := make([]*lksdk.Room, 0, len(j.Tokens))
	defer func() {
		for _, room := range rooms {
			room.Disconnect()
		}
	}()
	for _, token := range j.Tokens {
		room, err := lksdk.ConnectToRoomWithToken(
			j.URL, token, lksdk.NewRoomCallback(), lksdk.WithAutoSubscribe(false),
		)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		rooms = append(rooms, room)
	}
	fmt.Println("ready")
	if !in.Scan() || in.Text() != "go" {
		return fmt.Errorf("expected go")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all report
	start := time.Now()
	for i, room := range rooms {
		first := start
		if j.Spread {
			first = start.Add(time.Duration(i) * time.Duration(j.ChunkMS) * time.Millisecond / time.Duration(len(rooms)))
		}
		wg.Add(1)
		go func(room *lksdk.Room) {
			defer wg.Done()
			late, err := send(room, audio, j.ChunkMS, j.Seconds, first)
			mu.Lock()
			defer mu.Unlock()
			all.LateMS = append(all.LateMS, late...)
			if err != nil {
				all.PublishErrors++
			}
		}(room)
	}
	wg.Wait()
	if j.Report != "" {
		if err := writeReport(j.Report, all); err != nil {
			return err
		}
	}
	fmt.Println("done")
	in.Scan() // "leave", or stdin closed
	return nil
}

// loadAudio returns the PCM16 to send: the job's file, or one chunk of a 440 Hz tone at -12 dBFS.
func loadAudio(j job) ([]byte, error) {
	if j.PCM != "" {
		audio, err := os.ReadFile(j.PCM)
		if err != nil {
			return nil, fmt.Errorf("pcm: %w", err)
		}
		if len(audio) < 2 {
			return nil, fmt.Errorf("pcm: %s holds no samples", j.PCM)
		}
		return audio[:len(audio)&^1], nil
	}
	samples := deviceRate * j.ChunkMS / 1000
	audio := make([]byte, 2*samples)
	for i := 0; i < samples; i++ {
		v := int16(8192 * math.Sin(2*math.Pi*440*float64(i)/deviceRate))
		binary.LittleEndian.PutUint16(audio[2*i:], uint16(v))
	}
	return audio, nil
}

// The stamp's layout in a packet's PCM: lkbridge/devstack/stamp.py's, which
// tests/unit/test_stamp.py checks these constants and putStamp against.
const (
	stampSeqOffset  = 0 // the sequence number, 16 bits, wrapping
	stampTimeOffset = 2 // the send time in Unix ns, stampTimeWords 16-bit words, least significant first
	stampTimeWords  = 4
)

// putStamp writes the sequence number and the send time over the first samples of pcm (little-endian).
func putStamp(pcm []byte, seq int, sentNs uint64) {
	binary.LittleEndian.PutUint16(pcm[stampSeqOffset:], uint16(seq))
	for w := 0; w < stampTimeWords; w++ {
		binary.LittleEndian.PutUint16(pcm[stampTimeOffset+2*w:], uint16(sentNs>>(16*w)))
	}
}

func writeReport(path string, r report) error {
	out, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// send publishes real-time packets paced from its start time, so a late one does not shift the rest.
// Packet seq carries the audio's chunk seq, the audio repeating when it is shorter than the run.
// It returns how late each packet was stamped against its schedule, in ms.
func send(room *lksdk.Room, audio []byte, chunkMS int, seconds float64, start time.Time) ([]float64, error) {
	chunkBytes := 2 * deviceRate * chunkMS / 1000
	interval := time.Duration(chunkMS) * time.Millisecond
	count := int(seconds * 1000 / float64(chunkMS))
	late := make([]float64, 0, count)
	for seq := 0; seq < count; seq++ {
		due := start.Add(time.Duration(seq) * interval)
		time.Sleep(time.Until(due))
		packet := make([]byte, 1+chunkBytes)
		for i := 0; i < chunkBytes; i++ {
			packet[1+i] = audio[(seq*chunkBytes+i)%len(audio)]
		}
		packet[0] = byte(seq) // the glasses' 1-byte header
		now := time.Now()
		late = append(late, float64(now.Sub(due).Microseconds())/1000)
		putStamp(packet[1:], seq, uint64(now.UnixNano()))
		err := room.LocalParticipant.PublishDataPacket(
			lksdk.UserData(packet), lksdk.WithDataPublishReliable(true),
		)
		if err != nil {
			fmt.Fprintln(os.Stderr, "godevices: publish:", err)
			return late, err
		}
	}
	return late, nil
}
