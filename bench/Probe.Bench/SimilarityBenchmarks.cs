using TorchSharp;
using static TorchSharp.torch;
namespace Probe.Bench;
public sealed class GemmProbe : IBenchmark
{
    public string Name => "gemmprobe";
    public string Description => "tmp";
    public void Run(BenchContext ctx)
    {
        foreach (var (m,k,nn) in new[]{(2048,2048,2048),(1024,10000,1024),(2656,1000,2656),(1000,1000,1000)})
        foreach (var dt in new[]{ScalarType.Float32, ScalarType.Float64})
        {
            using var a = randn(new long[]{m,k}, dtype: dt);
            using var b = randn(new long[]{k,nn}, dtype: dt);
            double s = BenchContext.BestSeconds(() => { using var c = mm(a,b); });
            ctx.Report($"{m}x{k}x{nn} {dt}", 2.0*m*k*nn/s/1e9, "GFLOP/s");
        }
    }
}
