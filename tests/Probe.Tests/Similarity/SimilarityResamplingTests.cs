using System.Text.Json;
using Probe.Reporting;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>Bootstrap intervals and permutation nulls: deterministic for a seed, and behaving as statistics should.</summary>
public class SimilarityResamplingTests
{
    private static (Matrix X, Matrix Y) Related(int n, int seed)
    {
        var x = Gaussian(n, 10, seed);
        var w = Gaussian(10, 6, seed + 1);
        var noise = Gaussian(n, 6, seed + 2, scale: 0.4);
        return (x, Matrix.Create(n, 6, (i, j) =>
        {
            double s = 0;
            for (int k = 0; k < 10; k++) s += x[i, k] * w[k, j];
            return (float)(Math.Tanh(s / 3) + noise[i, j]);
        }));
    }

    [Fact]
    public void SameSeedGivesByteIdenticalJsonAndAnotherSeedDiffers()
    {
        var (x, y) = Related(80, 1);
        var m = SimilarityMeasure.Parse("procrustes");
        string a = JsonOutput.Serialize(new SimilarityBootstrap(50, Seed: 3).Run(m, x, y));
        string b = JsonOutput.Serialize(new SimilarityBootstrap(50, Seed: 3).Run(m, x, y));
        string c = JsonOutput.Serialize(new SimilarityBootstrap(50, Seed: 4).Run(m, x, y));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        string p = JsonOutput.Serialize(new SimilarityPermutationTest(50, Seed: 3).Run(m, x, y));
        string q = JsonOutput.Serialize(new SimilarityPermutationTest(50, Seed: 3).Run(m, x, y));
        Assert.Equal(p, q);
    }

    [Theory]
    [InlineData("cka", 150)]
    [InlineData("mean-cca", 150)]
    [InlineData("svcca", 150)]
    [InlineData("procrustes", 150)]
    [InlineData("linreg", 150)]
    [InlineData("rsa", 80)] // RSA ranks n(n - 1)/2 RDM entries per replicate: fewer samples keep the test quick
    public void BootstrapIntervalContainsTheEstimateAndNarrowsWithMoreSamples(string name, int n)
    {
        var m = SimilarityMeasure.Parse(name);
        var (x, y) = Related(n, 7);
        var ci = new SimilarityBootstrap(100, Seed: 1).Run(m, x, y);
        Assert.Equal(m.Value(x, y), ci.Estimate);
        Assert.InRange(ci.Estimate, ci.Low, ci.High);
        Assert.True(ci.High - ci.Low > 0 && ci.High - ci.Low < 0.4, $"{name}: width {ci.High - ci.Low}");
        // Four times the samples: the interval narrows (roughly halves; at least by a quarter here).
        var (x4, y4) = Related(4 * n, 7);
        var ci4 = new SimilarityBootstrap(100, Seed: 1).Run(m, x4, y4);
        Assert.True(ci4.High - ci4.Low < 0.75 * (ci.High - ci.Low), $"{name}: {ci4.High - ci4.Low} vs {ci.High - ci.Low}");
    }

    private static readonly Lazy<JsonElement> BootstrapReference = new(() =>
        JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("similarity", "bootstrap.json"))).RootElement.Clone());

    public static TheoryData<string, string> BootstrapRuns()
    {
        var data = new TheoryData<string, string>();
        foreach (var r in BootstrapReference.Value.GetProperty("runs").EnumerateArray())
            data.Add(r.GetProperty("case").GetString()!, r.GetProperty("measure").GetString()!);
        return data;
    }

    /// <summary>
    /// fixtures/similarity/bootstrap.json (make_bootstrap.py): NumPy draws the same rows as Probe (a port of the seeded
    /// System.Random), computes the measure on each resample, numpy.quantile and the basic interval 2 estimate - q.
    /// </summary>
    [Theory, MemberData(nameof(BootstrapRuns))]
    public void BasicIntervalMatchesNumPyOnTheSameResamples(string c, string measure)
    {
        var r = BootstrapReference.Value.GetProperty("runs").EnumerateArray()
            .Single(e => e.GetProperty("case").GetString() == c && e.GetProperty("measure").GetString() == measure);
        int seed = r.GetProperty("seed").GetInt32(), replicates = r.GetProperty("replicates").GetInt32();
        var x = ReferenceFixtures.Matrix("similarity", c + "_a.npy");
        var y = ReferenceFixtures.Matrix("similarity", c + "_b.npy");
        // The script's port of System.Random(seed).Next(n) against System.Random itself: the same rows are resampled.
        var rng = new Random(seed);
        foreach (var index in r.GetProperty("first_indices").EnumerateArray()) Assert.Equal(index.GetInt32(), rng.Next(x.Rows));

        var ci = new SimilarityBootstrap(replicates, seed).Run(SimilarityMeasure.Parse(measure), x, y);
        Assert.Equal("basic", ci.Method);
        Assert.Equal(0.95, BootstrapReference.Value.GetProperty("level").GetDouble());
        foreach (var (key, got) in new[] { ("estimate", ci.Estimate), ("low", ci.Low), ("high", ci.High), ("percentile_low", ci.PercentileLow),
                     ("percentile_high", ci.PercentileHigh), ("mean", ci.Mean), ("standard_error", ci.StandardError), ("bias", ci.Bias) })
        {
            double e = r.GetProperty(key).GetDouble();
            Assert.True(Math.Abs(got - e) <= 1e-9, $"{c} {measure} {key}: NumPy {e}, Probe {got}");
        }
        double estimate = r.GetProperty("estimate").GetDouble();
        Assert.Equal(r.GetProperty("low").GetDouble() <= estimate && estimate <= r.GetProperty("high").GetDouble(), ci.ContainsEstimate);
    }

    [Fact]
    public void BasicIntervalReflectsBiasedResamplesAboutTheEstimate()
    {
        // Unrelated data, so the true linear CKA is 0; a resample repeats rows, which raises CKA well above the estimate.
        var x = Gaussian(80, 16, 31);
        var y = Gaussian(80, 16, 32);
        var ci = new SimilarityBootstrap(200, Seed: 2).Run(SimilarityMeasure.Parse("cka"), x, y);
        Assert.True(ci.PercentileLow > ci.Estimate, $"the resamples should sit above the estimate: {ci.PercentileLow} vs {ci.Estimate}");
        Assert.Equal(2 * ci.Estimate - ci.PercentileHigh, ci.Low, 14);
        Assert.Equal(2 * ci.Estimate - ci.PercentileLow, ci.High, 14);
        // The interval sits on the other side of the estimate, around the bias-corrected estimate, and contains the
        // true value 0, which the percentile interval misses; the estimate itself is outside, and flagged.
        Assert.InRange(ci.Estimate - ci.Bias, ci.Low, ci.High);
        Assert.InRange(0.0, ci.Low, ci.High);
        Assert.True(ci.High < ci.Estimate, $"{ci.High} vs {ci.Estimate}");
        Assert.False(ci.ContainsEstimate);
    }

    [Fact]
    public void PermutationNullIsNearChanceForIndependentDataAndFarBelowRelatedData()
    {
        int n = 200;
        var x = Gaussian(n, 12, 21);
        var independent = Gaussian(n, 8, 22);
        var (rx, ry) = Related(n, 23);
        var test = new SimilarityPermutationTest(100, Seed: 5);

        // RSA: Spearman of unrelated RDMs is centred on 0.
        var rsaNull = test.Run(SimilarityMeasure.Parse("rsa"), x, independent);
        Assert.InRange(rsaNull.Mean, -0.02, 0.02);
        Assert.InRange(rsaNull.Observed, -0.05, 0.05);
        Assert.True(rsaNull.PValue > 0.01, $"independent data flagged as similar: p = {rsaNull.PValue}");
        // Mutual k-NN: chance overlap of two random k-sets out of n - 1 is k / (n - 1).
        var knnNull = test.Run(SimilarityMeasure.Parse("mutual-knn"), x, independent);
        double chance = 10.0 / (n - 1);
        Assert.InRange(knnNull.Mean, 0.5 * chance, 2 * chance);
        // Related data sit far above the null: p at its floor 1 / (1 + permutations).
        foreach (var name in new[] { "rsa", "mutual-knn", "cka", "procrustes" })
        {
            var r = test.Run(SimilarityMeasure.Parse(name), rx, ry);
            Assert.Equal(1.0 / 101, r.PValue, 12);
            Assert.True(r.Observed > r.High, $"{name}: observed {r.Observed} within the null's 95% range up to {r.High}");
        }
    }

    [Fact]
    public void QuantileInterpolatesLikeNumPy()
    {
        // numpy.quantile([1, 2, 4, 8], [0.025, 0.5, 0.975]) = [1.075, 3.0, 7.7]
        double[] v = [1, 2, 4, 8];
        Assert.Equal(1.075, SimilarityBootstrap.Quantile(v, 0.025), 12);
        Assert.Equal(3.0, SimilarityBootstrap.Quantile(v, 0.5), 12);
        Assert.Equal(7.7, SimilarityBootstrap.Quantile(v, 0.975), 12);
    }
}
