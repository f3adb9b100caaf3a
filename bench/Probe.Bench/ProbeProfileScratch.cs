using System.Diagnostics;
using Probe.Analysis;
using static TorchSharp.torch;

namespace Probe.Bench;

public sealed class ProbeProfileScratch : IBenchmark
{
    public string Name => "scratch-probe-profile";
    public string Description => "scratch";

    static (double Wall, double Cpu) Time(Action a)
    {
        var p = Process.GetCurrentProcess(); p.Refresh();
        var c0 = p.TotalProcessorTime; var sw = Stopwatch.StartNew();
        a();
        p.Refresh();
        return (sw.Elapsed.TotalSeconds, (p.TotalProcessorTime - c0).TotalSeconds);
    }

    public void Run(BenchContext ctx)
    {
        int train = 50_000, test = 10_000, d = 512, k = 10;
        var (x, y) = AnalysisProbeBenchmark.Synthetic(train + test, d, k, seed: 42);
        var mask = Enumerable.Range(0, train + test).Select(i => i < train).ToArray();
        using var a = randn(50_000, 512); using var b = randn(512, 10);
        set_num_threads(1);
        var t = Time(() => { for (int i = 0; i < 20; i++) { using var c = a.matmul(b); using var e = a.t().matmul(c); } });
        ctx.Report($"20 x (XW, X^T G) wall", t.Wall, $"s cpu {t.Cpu:F2}");
        t = Time(() => { for (int i = 0; i < 20; i++) { using var c = a.matmul(b); using var e = c.t().matmul(a); } });
        ctx.Report($"20 x (XW, G^T X) wall", t.Wall, $"s cpu {t.Cpu:F2}");
        ProbeResult? r = null;
        t = Time(() => r = new LinearProbe(ProbeTrainer.Torch, GradientTolerance: 1e-4).Run(x, y, mask));
        ctx.Report($"torch probe 1e-4 (acc {r!.TestAccuracy})", t.Wall, $"s cpu {t.Cpu:F2}");
        t = Time(() => r = new LinearProbe(ProbeTrainer.Lbfgs, Tolerance: 1e-5).Run(x, y, mask));
        ctx.Report($"mlnet probe 1e-5 (acc {r!.TestAccuracy})", t.Wall, $"s cpu {t.Cpu:F2}");
    }
}
