using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

/// <summary>
/// torch.tensor(float[]) shares the caller's array. Code that centres in place must copy first, or it silently
/// rewrites the user's activations (found by a determinism test: a second call saw already-centred data).
/// </summary>
public class InputUntouchedTests
{
    static Matrix Data(int n, int d, int seed)
    {
        var rng = new Random(seed);
        return Matrix.Create(n, d, (_, j) => (float)(rng.NextDouble() * 4 + j));
    }

    [Theory]
    [InlineData(PcaSolver.Exact)]
    [InlineData(PcaSolver.Randomized)]
    public void PcaLeavesItsInputUnchanged(PcaSolver solver)
    {
        var x = Data(300, 40, 1);
        var before = (float[])x.Data.Clone();
        new Pca(3, solver, Seed: 2).Fit(x);
        Assert.Equal(before, x.Data);
    }

    [Fact]
    public void TsnePcaReductionLeavesItsInputUnchangedAndRepeatsExactly()
    {
        var x = Data(400, 300, 3);
        var before = (float[])x.Data.Clone();
        var a = TsneReduction.Reduce(x, 10, seed: 1);
        Assert.Equal(before, x.Data);
        Assert.Equal(a.Data, TsneReduction.Reduce(x, 10, seed: 1).Data);
    }
}
