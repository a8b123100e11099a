/** Test signals and the checks that judge audio by content, on the Node side. */

export function tone(freq: number, seconds: number, rate = 16_000, amplitude = 0.5): Buffer {
  const samples = Math.round(seconds * rate);
  const out = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    out.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * freq * i) / rate)), i * 2);
  }
  return out;
}

export function int16(pcm: Buffer): Int16Array {
  const even = pcm.subarray(0, pcm.length - (pcm.length % 2));
  return new Int16Array(even.buffer.slice(even.byteOffset, even.byteOffset + even.length));
}

/** Seconds of 10 ms frames whose RMS passes `threshold` (int16 units). */
export function loudSeconds(samples: Int16Array, rate = 16_000, threshold = 1000): number {
  const size = rate / 100;
  let loud = 0;
  for (let start = 0; start + size <= samples.length; start += size) {
    let sum = 0;
    for (let i = start; i < start + size; i++) sum += samples[i]! * samples[i]!;
    if (Math.sqrt(sum / size) > threshold) loud += 1;
  }
  return loud / 100;
}

/** The strongest frequency between 50 Hz and 4 kHz (Goertzel on a 5 Hz grid, 1 s at most). */
export function dominantFrequency(samples: Int16Array, rate = 16_000): number {
  const x = samples.subarray(0, Math.min(samples.length, rate));
  let best = 0;
  let bestPower = 0;
  for (let f = 50; f <= 4000; f += 5) {
    const coeff = 2 * Math.cos((2 * Math.PI * f) / rate);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < x.length; i++) {
      const s0 = x[i]! + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}

/** A PCM16 WAV file of a tone (what the playback tests serve). */
export function wavFile(freq: number, seconds: number, rate = 44_100): Buffer {
  const data = tone(freq, seconds, rate, 0.4);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
