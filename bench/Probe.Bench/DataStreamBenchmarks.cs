using Probe.Data;

namespace Probe.Bench;

/// <summary>
/// Peak resident memory while reading a float32 .npy of N and of 10 N samples through <c>npy:</c> (memory-mapped,
/// per-batch views) in batches: it should stay flat while the file grows tenfold. The peak (Linux VmHWM) is reset
/// before each pass by writing 5 to /proc/self/clear_refs.
/// </summary>
public sealed class DataStreamBenchmarks : IBenchmark
{
    public string Name => "data-stream";
    public string Description => "npy: streamed read of N and 10N float32 samples: peak RSS ratio (flat = ~1) and throughput";

    public void Run(BenchContext ctx)
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-bench-stream-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            int n = ctx.Quick ? 1000 : 8000;           // samples of 3 x 32 x 32 float32 (12 KiB): 10 N = 983 MB when not quick
            const int c = 3, h = 32, w = 32, batch = 256;
            string small = Path.Combine(dir, "n.npy"), large = Path.Combine(dir, "10n.npy");
            Write(small, n, c * h * w);
            Write(large, 10 * n, c * h * w);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            double baseline = ResetPeak();
            ctx.Report("resident before reading", baseline, "MiB");

            var (peakSmall, secSmall, sumSmall) = Pass(small, batch);
            var (peakLarge, secLarge, sumLarge) = Pass(large, batch);
            ctx.Report($"peak RSS, npy: {n} x {c}x{h}x{w} f4 ({new FileInfo(small).Length / 1e6:F0} MB)", peakSmall, "MiB");
            ctx.Report($"peak RSS, npy: {10 * n} x {c}x{h}x{w} f4 ({new FileInfo(large).Length / 1e6:F0} MB)", peakLarge, "MiB");
            ctx.Report("peak RSS ratio 10N / N (flat = 1)", peakLarge / peakSmall, "x");
            ctx.Report("peak RSS growth 10N - N", peakLarge - peakSmall, "MiB");
            ctx.Report("streamed read throughput (10N)", new FileInfo(large).Length / 1e6 / secLarge, "MB/s");
            ctx.Report("time ratio 10N / N (linear = 10)", secLarge / secSmall, "x");
            if (!double.IsFinite(sumSmall + sumLarge)) ctx.Report("checksum not finite", 0);

            // The whole dead-unit study (cnn:3x32x32:10, every ReLU's full maps and pre-activations) over the same files:
            // peak RSS must not grow with N either (the README's 2 GB figure is the same run at 40,000 x 3 x 64 x 64).
            using var model = Probe.Models.ModelSpec.Parse("cnn:3x32x32:10").Build(0);
            double deadSmall = DeadPass(model, small), deadLarge = DeadPass(model, large);
            ctx.Report($"peak RSS, probe dead over {n} samples", deadSmall, "MiB");
            ctx.Report($"peak RSS, probe dead over {10 * n} samples", deadLarge, "MiB");
            ctx.Report("peak RSS ratio of the dead-unit study 10N / N (flat = 1)", deadLarge / deadSmall, "x");
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    static void Write(string path, int rows, int cols)
    {
        using var writer = new NpyMatrixWriter(path, cols);
        var chunk = new float[1000 * cols];
        for (int start = 0; start < rows; start += 1000)
        {
            int k = Math.Min(1000, rows - start);
            for (int i = 0; i < k * cols; i++) chunk[i] = ((start * cols + i) % 9973) / 9973f;
            writer.Write(chunk.AsSpan(0, k * cols), cols);
        }
    }

    static double DeadPass(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> model, string path)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ResetPeak();
        using (var data = (ArrayDataset)DataSource.Parse($"npy:{path}").Open())
            new Probe.Analysis.DeadUnitStudy().Run(model, data);
        return BenchContext.PeakResidentMiB();
    }

    static (double PeakMiB, double Seconds, double Sum) Pass(string path, int batch)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ResetPeak();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double sum = 0;
        using (var data = (ArrayDataset)DataSource.Parse($"npy:{path}").Open())
        {
            var buffer = new float[batch * data.SampleSize()];
            for (int s = 0; s < data.Count; s += batch)
            {
                int k = Math.Min(batch, data.Count - s);
                data.ReadBatch(s, k, buffer);
                sum += buffer[0];
            }
        }
        return (BenchContext.PeakResidentMiB(), sw.Elapsed.TotalSeconds, sum);
    }

    /// <summary>Resets the peak-RSS counter (Linux 4.0+); returns the current RSS.</summary>
    static double ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return BenchContext.ResidentMiB();
    }
}
