using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>Degenerate input gives a ProbeException with a clear message, never a NaN.</summary>
public class CkaErrorTests
{
    private static readonly Cka[] Variants = [new Cka(), new Cka(Debiased: true), new Cka(CkaKernel.Rbf), new Cka(CkaKernel.Rbf, Debiased: true), new Cka(Form: CkaForm.Gram)];

    [Fact]
    public void ConstantLayerIsAnError()
    {
        var x = Gaussian(30, 4, 1);
        var constant = Matrix.Create(30, 3, (_, j) => 2.5f + j);
        foreach (var cka in Variants)
        {
            var e = Assert.ThrowsAny<ProbeException>(() => cka.Compute(x, constant));
            Assert.Contains(cka.Kernel == CkaKernel.Rbf ? "median squared distance" : "constant", e.Message);
        }
        var table = Assert.Throws<Probe.Similarity.ConstantLayerException>(() => new Cka().AllPairs(["a", "dead"], [x, constant]));
        Assert.Contains("'dead'", table.Message);
        Assert.Equal(["dead"], table.Layers);
        // Every constant layer of a table is named at once (a caller leaves them all out and asks again).
        var both = Assert.Throws<Probe.Similarity.ConstantLayerException>(() => new Cka().AllPairs(["zero", "a", "dead"], [Matrix.Create(30, 2, (_, _) => 0f), x, constant]));
        Assert.Equal(["zero", "dead"], both.Layers);
        using (var acc = new MinibatchCka(["zero", "a", "dead"]))
        {
            for (int start = 0; start < 30; start += 10)
                acc.Add(new Dictionary<string, Matrix> { ["zero"] = Matrix.Create(10, 2, (_, _) => 0f), ["a"] = Matrix.Create(10, 4, (i, j) => x[start + i, j]), ["dead"] = Matrix.Create(10, 3, (_, j) => 2.5f + j) });
            Assert.Equal(["zero", "dead"], Assert.Throws<Probe.Similarity.ConstantLayerException>(() => acc.Result()).Layers);
        }
        Assert.Throws<Probe.Similarity.ConstantLayerException>(() => MinibatchCka.Compute(x, constant, 10));
    }

    [Fact]
    public void TooFewSamplesMismatchedRowsNonFiniteAndEmptyAreErrors()
    {
        var three = Gaussian(3, 2, 1);
        Assert.Contains("at least 4", Assert.Throws<ProbeException>(() => new Cka(Debiased: true).Compute(three, three)).Message);
        Assert.Throws<ProbeException>(() => CkaMath.Hsic1(new double[9], new double[9], 3));
        Assert.Contains("same samples", Assert.Throws<ProbeException>(() => new Cka().Compute(Gaussian(10, 2, 1), Gaussian(11, 2, 2))).Message);
        var bad = Gaussian(10, 2, 3); bad[4, 1] = float.NaN;
        Assert.Contains("non-finite", Assert.Throws<ProbeException>(() => new Cka().Compute(bad, Gaussian(10, 2, 4))).Message);
        Assert.Contains("empty", Assert.Throws<ProbeException>(() => new Cka().Compute(new Matrix(0, 3), new Matrix(0, 3))).Message);
        Assert.Throws<ProbeException>(() => new Cka().Compute(new Matrix(5, 0), Gaussian(5, 2, 1)));
        Assert.Throws<ProbeException>(() => new Cka(CkaKernel.Rbf, SigmaFrac: 0).Compute(Gaussian(10, 2, 1), Gaussian(10, 2, 2)));
        Assert.Throws<ProbeException>(() => new Cka().AllPairs(["a"], [Gaussian(5, 2, 1), Gaussian(5, 2, 2)]));
    }

    [Fact]
    public void MinibatchSkipsBatchesTooSmallForHsic1AndRefusesWhenNothingIsLeft()
    {
        using var acc = new MinibatchCka(["a", "b"]);
        acc.Add(new Dictionary<string, Matrix> { ["a"] = Gaussian(3, 2, 1), ["b"] = Gaussian(3, 5, 2) });
        Assert.Contains("fewer than 4", Assert.Throws<ProbeException>(() => acc.Result()).Message);
        acc.Add(new Dictionary<string, Matrix> { ["a"] = Gaussian(8, 2, 3), ["b"] = Gaussian(8, 5, 4) });
        Assert.Equal(3, acc.SkippedSamples);
        Assert.Equal(8, acc.Samples);
        Assert.Contains("missing", Assert.Throws<ProbeException>(() => acc.Add(new Dictionary<string, Matrix> { ["a"] = Gaussian(8, 2, 3) })).Message);
        Assert.Contains("columns", Assert.Throws<ProbeException>(() => acc.Add(new Dictionary<string, Matrix> { ["a"] = Gaussian(8, 3, 3), ["b"] = Gaussian(8, 5, 4) })).Message);
        Assert.Contains("rows", Assert.Throws<ProbeException>(() => acc.Add(new Dictionary<string, Matrix> { ["a"] = Gaussian(8, 2, 3), ["b"] = Gaussian(9, 5, 4) })).Message);
    }
}
