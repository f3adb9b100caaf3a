using System.IO.Compression;
using Probe.Data;

namespace Probe.Bench;

/// <summary>Probe.Data readers against the raw cost of the bytes they read (same run, same files).</summary>
public sealed class DataBenchmarks : IBenchmark
{
    public string Name => "data";
    public string Description => "NPY read/write and gzipped IDX read vs raw file read / plain gzip decompression";

    public void Run(BenchContext ctx)
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-bench-data-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            int rows = ctx.Quick ? 2000 : 20000, cols = 512;
            var m = Matrix.Create(rows, cols, (i, j) => (i * 31 + j * 7) % 1000 / 1000f);
            string npy = Path.Combine(dir, "m.npy");
            Npy.Write(npy, m);
            double mb = new FileInfo(npy).Length / 1e6;
            double raw = BenchContext.BestSeconds(() => File.ReadAllBytes(npy));
            double read = BenchContext.BestSeconds(() => Npy.ReadMatrix(npy));
            ctx.Report($"npy read {rows}x{cols} f4", read * 1e3, "ms");
            ctx.Report("npy read / File.ReadAllBytes", read / raw, "x");
            ctx.Report("npy read throughput", mb / read, "MB/s");

            double whole = BenchContext.BestSeconds(() => Npy.Write(npy, m));
            double streamed = BenchContext.BestSeconds(() =>
            {
                using var w = new NpyMatrixWriter(Path.Combine(dir, "s.npy"), cols);
                for (int s = 0; s < rows; s += 256) w.Write(m.Data.AsSpan(s * cols, Math.Min(256, rows - s) * cols), cols);
            });
            ctx.Report("NpyMatrixWriter (256-row batches) / Npy.Write", streamed / whole, "x");

            string images = Path.Combine(Datasets.FashionMnistDirectory, "train-images-idx3-ubyte.gz");
            if (ctx.Quick || !File.Exists(images))
            {
                images = Path.Combine(dir, "imgs-idx3-ubyte.gz");
                int n = ctx.Quick ? 2000 : 60000;
                var bytes = new byte[16 + n * 784];
                bytes[2] = 8; bytes[3] = 3;
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), n);
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), 28);
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), 28);
                var rng = new Random(1);
                for (int i = 16; i < bytes.Length; i++) bytes[i] = rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)0;
                using var f = File.Create(images);
                using var gz = new GZipStream(f, CompressionLevel.Optimal);
                gz.Write(bytes);
            }
            double unzip = BenchContext.BestSeconds(() =>
            {
                using var gz = new GZipStream(File.OpenRead(images), CompressionMode.Decompress);
                gz.CopyTo(Stream.Null);
            });
            double idx = BenchContext.BestSeconds(() => Idx.ReadImages(images));
            ctx.Report($"idx read {Path.GetFileName(images)}", idx * 1e3, "ms");
            ctx.Report("idx read / plain gzip decompress", idx / unzip, "x");
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }
}
