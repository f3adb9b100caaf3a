using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// <c>probe similarity</c> in memory: every measure on fixtures/similarity/&lt;case&gt;_{a,b}.npy reproduces the NumPy
/// reference of expected.json (make_similarity.py, 1e-6 relative); bootstrap and permutation output is byte-identical
/// for a seed; bad arguments exit 2 and listed names, bad data exits 1 with one line.
/// </summary>
public class SimilarityCommandTests
{
    private static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "similarity");
    private static string F(string name) => Path.Combine(Dir, name);
    private static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(F("expected.json"))).RootElement);

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in new[] { "related", "rankdef", "clusters" })
            foreach (var m in new[] { "svcca", "pwcca", "procrustes", "mutual-knn", "rsa", "mean-cca", "linreg", "cka" })
                data.Add(c, m);
        return data;
    }

    /// <summary>
    /// PWCCA of a side with as many directions as the centred samples (12 columns, 10 samples: rank 9) is 1 whatever the
    /// other side is (every canonical correlation is forced to 1); it printed 1 with no word. It warns on stderr now and
    /// the JSON carries the caveat; a pair with room to spare has none.
    /// </summary>
    [Fact]
    public void A_value_forced_by_too_few_samples_is_said_so()
    {
        string dir = Cli.TempDir("cca-floor");
        try
        {
            string a = Path.Combine(dir, "a.npy"), b = Path.Combine(dir, "b.npy");
            Probe.Data.Npy.Write(a, Probe.Tests.Similarity.SimilarityTestData.Gaussian(10, 12, 1));
            Probe.Data.Npy.Write(b, Probe.Tests.Similarity.SimilarityTestData.Gaussian(10, 3, 2));
            var (code, output, err) = Cli.Run("similarity", "--measure", "pwcca", "--a", a, "--b", b, "--json");
            Assert.True(code == 0, err);
            var doc = JsonDocument.Parse(output).RootElement;
            Assert.Equal(1.0, doc.GetProperty("value").GetDouble(), 1e-9);
            Assert.Contains("at least 3 of their 3 canonical correlations are 1 whatever the data", doc.GetProperty("caveat").GetString());
            Assert.Contains("probe: warning: the first matrix and the second matrix span 9 + 3 directions of the 9", err);
            (code, output, err) = Cli.Run("similarity", "--measure", "pwcca", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--json");
            Assert.True(code == 0, err);
            Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(output).RootElement.GetProperty("caveat").ValueKind);
            Assert.DoesNotContain("warning", err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory, MemberData(nameof(Cases))]
    public void JsonValueMatchesNumPy(string c, string measure)
    {
        var (code, output, err) = Cli.Run("similarity", "--measure", measure, "--a", F(c + "_a.npy"), "--b", F(c + "_b.npy"), "--json", "--k", "10");
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal(measure, doc.GetProperty("measure").GetString());
        var values = Expected.Value.GetProperty("cases").GetProperty(c).GetProperty("values");
        if (measure == "procrustes")
        {
            foreach (var key in new[] { "similarity", "distance", "angular" })
            {
                double e = values.GetProperty("procrustes").GetProperty(key).GetDouble();
                double got = doc.GetProperty("details").GetProperty(key).GetDouble();
                Assert.True(Math.Abs(got - e) <= 1e-6 * Math.Abs(e), $"{key}: {e} vs {got}");
            }
        }
        else
        {
            double e = values.GetProperty(measure).GetDouble();
            double got = doc.GetProperty("value").GetDouble();
            Assert.True(Math.Abs(got - e) <= 1e-6 * Math.Abs(e), $"{measure}: {e} vs {got}");
        }
    }

    [Fact]
    public void BootstrapAndPermutationsAreSeededAndPrinted()
    {
        // 'clusters' is a stable case (strong shared structure): the estimate lies inside the interval (see the next test
        // for a case where the resamples' repeated rows raise the measure so much that it does not).
        string[] args = ["similarity", "--measure", "procrustes", "--a", F("clusters_a.npy"), "--b", F("clusters_b.npy"), "--bootstrap", "40", "--permutations", "40", "--seed", "3", "--json"];
        var first = Cli.Run(args);
        var second = Cli.Run(args);
        Assert.True(first.Code == 0, first.Err);
        Assert.Equal(first.Out, second.Out);
        var doc = JsonDocument.Parse(first.Out).RootElement;
        double v = doc.GetProperty("value").GetDouble();
        var ci = doc.GetProperty("bootstrap");
        Assert.InRange(v, ci.GetProperty("low").GetDouble(), ci.GetProperty("high").GetDouble());
        Assert.Equal("basic", ci.GetProperty("interval").GetString());
        Assert.True(ci.GetProperty("containsEstimate").GetBoolean());
        Assert.Equal(2 * v - ci.GetProperty("percentileHigh").GetDouble(), ci.GetProperty("low").GetDouble(), 12);
        Assert.Equal(2 * v - ci.GetProperty("percentileLow").GetDouble(), ci.GetProperty("high").GetDouble(), 12);
        Assert.True(doc.GetProperty("permutation").GetProperty("high").GetDouble() < v);
        Assert.Equal(3, doc.GetProperty("seed").GetInt32());
        var other = Cli.Run([.. args[..^3], "4", "--json"]);
        Assert.NotEqual(first.Out, other.Out);

        var text = Cli.Run("similarity", "--measure", "svcca", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--bootstrap", "20", "--permutations", "20");
        Assert.True(text.Code == 0, text.Err);
        Assert.Contains("SVCCA (keep 99% of the variance): 0.78", text.Out);
        Assert.Contains("95% basic bootstrap interval (20 resamples, seed 0): [", text.Out);
        Assert.Contains("; percentile interval [", text.Out);
        Assert.DoesNotContain("outside", text.Out);
        Assert.Contains("permutation null (20 shuffles, seed 0)", text.Out);
    }

    [Fact]
    public void BootstrapSaysWhenTheEstimateLiesOutsideTheInterval()
    {
        // Unrelated data (true CKA 0): every resample's repeated rows raise linear CKA above the estimate. The numbers are
        // NumPy's on the same resamples (bootstrap.json, make_bootstrap.py).
        var reference = JsonDocument.Parse(File.ReadAllText(F("bootstrap.json"))).RootElement.GetProperty("runs").EnumerateArray()
            .Single(r => r.GetProperty("case").GetString() == "independent" && r.GetProperty("measure").GetString() == "cka");
        Assert.Equal(200, reference.GetProperty("replicates").GetInt32());
        Assert.Equal(1, reference.GetProperty("seed").GetInt32());
        string[] args = ["cka", "--a", F("independent_a.npy"), "--b", F("independent_b.npy"), "--bootstrap", "200", "--seed", "1"];
        var json = Cli.Run([.. args, "--json"]);
        Assert.True(json.Code == 0, json.Err);
        var ci = JsonDocument.Parse(json.Out).RootElement.GetProperty("bootstrap");
        Assert.Equal("basic", ci.GetProperty("interval").GetString());
        Assert.False(ci.GetProperty("containsEstimate").GetBoolean());
        foreach (var (key, name) in new[] { ("low", "low"), ("high", "high"), ("percentileLow", "percentile_low"), ("percentileHigh", "percentile_high"), ("bias", "bias") })
            Assert.Equal(reference.GetProperty(name).GetDouble(), ci.GetProperty(key).GetDouble(), 9);

        var text = Cli.Run(args);
        Assert.True(text.Code == 0, text.Err);
        Assert.Contains("linear CKA: 0.16699", text.Out);
        Assert.Contains("95% basic bootstrap interval (200 resamples, seed 1): [-0.016479, 0.098225], bias 0.119675; percentile interval [0.235756, 0.35046]", text.Out);
        Assert.Contains("the estimate lies outside both intervals (above the basic, below the percentile)", text.Out);
    }

    [Fact]
    public void BadArgumentsExitTwoAndBadDataExitsOne()
    {
        var unknown = Cli.Run("similarity", "--measure", "cca", "--a", F("related_a.npy"), "--b", F("related_b.npy"));
        Assert.Equal(2, unknown.Code);
        Assert.Contains("mutual-knn", unknown.Err);
        Assert.Equal(2, Cli.Run("similarity", "--measure", "svcca", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--keep", "1.5").Code);
        Assert.Equal(2, Cli.Run("similarity", "--measure", "rsa", "--a", F("related_a.npy")).Code);
        Assert.Equal(2, Cli.Run("similarity", "--measure", "rsa", "--a", F("related_a.npy"), "--b", F("related_b.npy"), "--bootstrap", "1").Code);
        // Different sample counts: a clear one-line failure.
        var mismatch = Cli.Run("similarity", "--measure", "mean-cca", "--a", F("related_a.npy"), "--b", F("wide_b.npy"));
        Assert.Equal(1, mismatch.Code);
        Assert.Contains("same samples", mismatch.Err);
        Assert.Single(mismatch.Err.Trim().Split('\n'));
        // k too large for the samples.
        var bigK = Cli.Run("similarity", "--measure", "mutual-knn", "--k", "25", "--a", F("wide_a.npy"), "--b", F("wide_b.npy"));
        Assert.Equal(1, bigK.Code);
        Assert.Contains("at least 26", bigK.Err);
    }
}
