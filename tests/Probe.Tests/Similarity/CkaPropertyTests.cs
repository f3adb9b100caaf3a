using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>Invariants of CKA (Kornblith et al. 2019, section 3) checked over seeded random data.</summary>
public class CkaPropertyTests
{
    public static TheoryData<int> Seeds => new() { 1, 2, 3 };
    private static readonly Cka[] Variants =
    [
        new Cka(), new Cka(Debiased: true), new Cka(CkaKernel.Rbf, 0.5), new Cka(CkaKernel.Rbf, 0.4, Debiased: true),
        new Cka(Form: CkaForm.Gram), new Cka(Precision: CkaPrecision.Single, Form: CkaForm.FeatureSpace),
    ];

    // Two related representations: y = tanh(x W) + noise, so CKA is strictly between 0 and 1.
    private static (Matrix X, Matrix Y) Pair(int seed, int n = 80, int dx = 12, int dy = 7)
    {
        var x = Gaussian(n, dx, seed, scale: 1.5, shift: 0.3);
        var w = Gaussian(dx, dy, seed + 100);
        var noise = Gaussian(n, dy, seed + 200, scale: 0.5);
        var y = Matrix.Create(n, dy, (i, j) =>
        {
            double s = 0;
            for (int k = 0; k < dx; k++) s += x[i, k] * w[k, j];
            return (float)(Math.Tanh(s / 3) + noise[i, j]);
        });
        return (x, y);
    }

    [Theory, MemberData(nameof(Seeds))]
    public void SelfSimilarityIsOne(int seed)
    {
        var (x, _) = Pair(seed);
        foreach (var cka in Variants) AssertRelative(1.0, cka.Compute(x, x), 1e-9, cka.ToString());
    }

    /// <summary>
    /// CKA is an inner product over the product of two norms, so |CKA| &lt;= 1 (Cauchy–Schwarz) and a layer against
    /// itself is 1 exactly: rounding once gave 1.0000000000000002, outside the measure's range.
    /// </summary>
    [Fact]
    public void NoVariantEverLeavesTheUnitIntervalAndSelfSimilarityIsExactlyOne()
    {
        for (int seed = 0; seed < 40; seed++)
        {
            var x = Gaussian(50, 10, seed, scale: 1 + seed % 7, shift: seed % 3);
            foreach (var cka in Variants)
            {
                double v = cka.Compute(x, x);
                Assert.True(v <= 1.0, $"{cka}: {v:R} > 1 (seed {seed})");
                AssertRelative(1.0, v, 1e-9, cka.ToString());
            }
        }
    }

    [Theory, MemberData(nameof(Seeds))]
    public void SymmetricAndBiasedWithinUnitInterval(int seed)
    {
        var (x, y) = Pair(seed);
        foreach (var cka in Variants)
        {
            double xy = cka.Compute(x, y), yx = cka.Compute(y, x);
            // float32 products of X'Y and Y'X round differently: symmetric to 1e-6 there, to rounding otherwise.
            AssertRelative(xy, yx, cka.Precision == CkaPrecision.Single ? 1e-6 : 1e-12, "symmetry " + cka);
            if (!cka.Debiased) Assert.InRange(xy, 0.0, 1.0);
            Assert.InRange(xy, 0.05, 0.999); // related, not identical: the test data are built that way
        }
    }

    [Theory, MemberData(nameof(Seeds))]
    public void InvariantToOrthogonalTransformAndIsotropicScalingOfEitherSide(int seed)
    {
        var (x, y) = Pair(seed);
        var xq = Multiply(x, RandomOrthogonal(x.Cols, seed + 7));
        var yq = Map(Multiply(y, RandomOrthogonal(y.Cols, seed + 8)), v => 0.01f * v);
        var xs = Map(x, v => 42f * v - 3f);
        foreach (var cka in Variants)
        {
            double v0 = cka.Compute(x, y);
            // The transformed inputs are float32 roundings, so agreement is to float32 input precision.
            AssertRelative(v0, cka.Compute(xq, y), 2e-5, "rotated x " + cka);
            AssertRelative(v0, cka.Compute(x, yq), 2e-5, "rotated, scaled y " + cka);
            AssertRelative(v0, cka.Compute(xs, y), 2e-5, "scaled x " + cka);
        }
    }

    [Fact]
    public void ShufflingOneSideDropsCkaToIndependentLevel()
    {
        var (x, y) = Pair(5, n: 400);
        var perm = Enumerable.Range(0, 400).ToArray();
        new Random(11).Shuffle(perm);
        var shuffled = y.SelectRows(perm);
        var independent = Gaussian(400, y.Cols, 999);
        double related = new Cka().Compute(x, y);
        double afterShuffle = new Cka().Compute(x, shuffled);
        double baseline = new Cka().Compute(x, independent);
        Assert.True(afterShuffle < 0.3 * related, $"shuffled {afterShuffle} vs related {related}");
        Assert.InRange(afterShuffle, 0.3 * baseline, 3 * baseline);
        // Debiased CKA of unrelated data is near 0 (its bias is removed), the biased one is not.
        double deb = new Cka(Debiased: true).Compute(x, shuffled);
        Assert.InRange(Math.Abs(deb), 0, 0.02);
        Assert.True(afterShuffle > 3 * Math.Abs(deb));
    }

    [Fact]
    public void LinearFormsAgreeAcrossShapes()
    {
        // n > d (feature space cheaper) and n < d (Gram cheaper), both forms forced, biased and debiased.
        foreach (var (n, dx, dy) in new[] { (200, 5, 9), (20, 60, 90), (40, 40, 3) })
        {
            var x = Gaussian(n, dx, n + dx, shift: 2);
            var y = Map(Gaussian(n, dy, n + dy), v => v * v);
            foreach (bool deb in new[] { false, true })
            {
                double f = new Cka(Debiased: deb, Form: CkaForm.FeatureSpace, Precision: CkaPrecision.Double).Compute(x, y);
                double g = new Cka(Debiased: deb, Form: CkaForm.Gram, Precision: CkaPrecision.Double).Compute(x, y);
                double a = new Cka(Debiased: deb).Compute(x, y);
                double m = CkaMath.LinearCkaGram(x, y, deb);
                AssertRelative(m, f, 1e-10, $"feature {n}x{dx}x{dy} debiased={deb}");
                AssertRelative(m, g, 1e-10, $"gram {n}x{dx}x{dy} debiased={deb}");
                AssertRelative(m, a, 1e-10, $"auto {n}x{dx}x{dy} debiased={deb}");
            }
        }
    }

    [Fact]
    public void SinglePrecisionProductsStayWithinOneMillionthOnLargeOffsetData()
    {
        // Large means and many rows (several float32 chunks): centring in double keeps the float32 products exact enough.
        var x = Gaussian(5000, 64, 1, scale: 1, shift: 1000);
        var y = Map(Gaussian(5000, 48, 2, shift: 50), v => MathF.Max(0, v - 50) + 50);
        var xs = Matrix.Create(5000, 64, (i, j) => x[i, j] + 0.3f * y[i, j % 48]);
        double d = new Cka(Precision: CkaPrecision.Double).Compute(xs, y);
        double s = new Cka(Precision: CkaPrecision.Single, Form: CkaForm.FeatureSpace).Compute(xs, y);
        AssertRelative(d, s, 1e-6, "single vs double");
        Assert.InRange(d, 0.01, 0.99);
    }
}
