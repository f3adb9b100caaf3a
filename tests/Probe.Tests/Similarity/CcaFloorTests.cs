using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>
/// Two subspaces of the (n - 1)-dimensional space of centred samples, of dimensions rx and ry, share at least
/// rx + ry - (n - 1) directions, so that many canonical correlations are 1 whatever the data. PWCCA on a ResNet layer of
/// 256 channels over 200 samples was 1.000 against every layer with no word of warning; the CCA family and linear
/// regression now say so (SimilarityScore.Caveat, SimilarityTable.Caveats, a warning on the command line).
/// </summary>
public class CcaFloorTests
{
    [Fact]
    public void Canonical_correlations_forced_to_one_are_counted_and_said()
    {
        // n = 10 samples: 9 centred directions. Independent Gaussian sides of 6 and 5 columns share at least 6 + 5 - 9 = 2.
        var x = Gaussian(10, 6, 1);
        var y = Gaussian(10, 5, 2);
        var rho = CcaCore.Correlations(CcaCore.Prepare(x, "x"), CcaCore.Prepare(y, "y"));
        Assert.Equal(5, rho.Length);
        Assert.Equal(1.0, rho[0], 1e-9);
        Assert.Equal(1.0, rho[1], 1e-9);
        Assert.True(rho[2] < 0.999, $"the third canonical correlation is {rho[2]}: only two are forced");
        foreach (var m in new[] { "mean-cca", "pwcca", "linreg", "svcca" })
        {
            var score = SimilarityMeasure.Parse(m, keep: 1.0).Compute(x, y);
            Assert.Contains("span 6 + 5 directions of the 9 that 10 centred samples have, so at least 2 of their 5 canonical correlations are 1", score.Caveat);
        }
        // A side of rank n - 1 spans every centred direction: every correlation is 1, and mean CCA is 1 for any other side.
        var wide = Gaussian(10, 12, 3);
        var all = SimilarityMeasure.Parse("mean-cca").Compute(wide, y);
        Assert.Equal(1.0, all.Value, 1e-9);
        Assert.Contains("at least 5 of their 5", all.Caveat);
        // With room to spare (5 + 5 of 49 directions) nothing is forced and nothing is said; CKA never says it.
        Assert.Null(SimilarityMeasure.Parse("pwcca").Compute(Gaussian(50, 5, 4), Gaussian(50, 5, 5)).Caveat);
        Assert.Null(SimilarityMeasure.Parse("cka").Compute(wide, y).Caveat);
    }

    [Fact]
    public void A_table_lists_the_pairs_whose_correlations_are_forced()
    {
        var layers = new List<(string, Matrix)> { ("narrow", Gaussian(10, 2, 1)), ("wide", Gaussian(10, 12, 2)), ("mid", Gaussian(10, 3, 3)) };
        var table = SimilarityMeasure.Parse("mean-cca").AllPairs(layers);
        // wide (rank 9) forces every correlation with narrow and with mid; narrow and mid (2 + 3 of 9) are free.
        Assert.Equal(2, table.Caveats.Count);
        Assert.Contains(table.Caveats, c => c.Contains("'narrow'") && c.Contains("'wide'"));
        Assert.Contains(table.Caveats, c => c.Contains("'wide'") && c.Contains("'mid'"));
        Assert.Equal(1.0, table["narrow", "wide"], 1e-9);
    }
}
