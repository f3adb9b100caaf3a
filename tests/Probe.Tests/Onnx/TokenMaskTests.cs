using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>
/// Pooling a BERT-like model's token sites with its attention mask, against PyTorch: tests/fixtures/onnx/make_masked_pooling.py
/// recorded forward hooks on embed, o, fc1, act and fc2 for six samples with 5, 3, 1, 4, 2 real tokens (right padding)
/// and one left-padded row, and pooled them with the mask (sum(h * mask) / sum(mask), max, first and last real token)
/// and without it (the mean over all 5 tokens).
/// </summary>
public class TokenMaskTests
{
    // Probe's names of the modules PyTorch hooked (Embed's output is its functional sum, embed.add), and their files.
    static readonly string[] TokenSites = ["embed.add", "o", "fc1", "act", "fc2"];
    static string Key(string site) => site == "embed.add" ? "embed" : site;
    const string Mask = "attention_mask";

    static string Fixture(string file) => OnnxSourceTests.Fixture(file);

    static (OnnxActivationSource Source, Dataset Ids) Model(NpyArray? mask = null)
    {
        var ids = Npy.Read(Fixture("mp_ids.npy"));
        var source = new OnnxActivationSource(Fixture("masked_pooling.onnx"),
            new Dictionary<string, NpyArray> { [Mask] = mask ?? Npy.Read(Fixture("mp_mask.npy")) }, dataInput: "input_ids");
        return (source, new Dataset("ids", Npy.ToMatrix(ids), null, ids.Shape[1..]));
    }

    static CapturedActivations Capture(MapReduction how, string? mask, string sites = "embed.add,o,fc1,act,fc2", int? max = null)
    {
        var (source, ids) = Model();
        using var _ = source;
        return new ActivationCapture(new LayerSelector(sites), how, BatchSize: 4) { TokenMask = mask }.ToMemory(source, ids, max, seed: 3);
    }

    [Theory]
    [InlineData(MapReduction.Mean, "masked_mean")]
    [InlineData(MapReduction.Max, "masked_max")]
    [InlineData(MapReduction.First, "masked_first")]
    [InlineData(MapReduction.Last, "masked_last")]
    public void MaskedPoolingIsPyTorchs(MapReduction how, string key)
    {
        var got = Capture(how, Mask);
        Assert.Equal(TokenSites, got.LayerNames);
        foreach (var site in TokenSites)
        {
            ReferenceAssert.Close(Npy.ReadMatrix(Fixture($"mp_{Key(site)}_{key}.npy")), got[site], $"{site} {key}", 1e-5);
            Assert.Equal(Mask, got.Summary.Layers.Single(l => l.Name == site).TokenMask);
        }
    }

    [Fact]
    public void WithoutAMaskEveryTokenCounts()
    {
        var got = Capture(MapReduction.Mean, mask: null);
        foreach (var site in TokenSites)
        {
            var plain = Npy.ReadMatrix(Fixture($"mp_{Key(site)}_mean.npy"));
            ReferenceAssert.Close(plain, got[site], $"{site} mean over all tokens", 1e-5);
            Assert.Null(got.Summary.Layers.Single(l => l.Name == site).TokenMask);
            // The fixture pins both modes: padding changes every padded sample's mean.
            var masked = Npy.ReadMatrix(Fixture($"mp_{Key(site)}_masked_mean.npy"));
            Assert.True(Math.Abs(masked.Data[1 * masked.Cols] - plain.Data[1 * plain.Cols]) > 1e-3, $"{site}: sample 1's masked and plain means are alike");
        }
    }

    [Fact]
    public void SitesThatAreNotSequencesOfTheMasksTokensAreUnaffected()
    {
        var with = Capture(MapReduction.Mean, Mask, "fc2,head");
        var without = Capture(MapReduction.Mean, null, "fc2,head");
        // head: the model's own pooled output, [3] per sample.
        Assert.Equal(without["head"].Data, with["head"].Data);
        Assert.Null(with.Summary.Layers.Single(l => l.Name == "head").TokenMask);
        Assert.NotEqual(without["fc2"].Data, with["fc2"].Data);
    }

    /// <summary>A consumer that keeps the mask's rows beside the rows, as NpySink does (a copy of both, in data order).</summary>
    sealed class KeepsMask : IActivationConsumer
    {
        public readonly List<float> Act = [], MaskRows = [];
        public bool KeepsTokenMaskRows => true;
        public void OnBatch(ActivationBatch batch)
        {
            Act.AddRange(batch.Outputs["act"].Data.Take(batch.Count * batch.Outputs["act"].Cols));
            MaskRows.AddRange(batch.TokenMaskRows!.Data.Take(batch.Count * batch.TokenMaskRows.Cols));
        }
    }

    [Fact]
    public void FlattenKeepsEveryValueBesideTheMaskRowsAndIsRefusedInMemory()
    {
        var without = Capture(MapReduction.Flatten, null, "act");
        Assert.Equal(5 * 16, without["act"].Cols);
        var (source, ids) = Model();
        using (source)
        {
            var keeps = new KeepsMask();
            new ActivationCapture(new LayerSelector("act"), MapReduction.Flatten, BatchSize: 4) { TokenMask = Mask }.Run(source, ids, keeps);
            Assert.Equal(without["act"].Data, keeps.Act);
            Assert.Equal(Npy.ReadMatrix(Fixture("mp_mask.npy")).Data, keeps.MaskRows);
        }
        // In memory the rows carry no mask: padding would pass for data.
        var e = Assert.Throws<ProbeArgumentException>(() => Capture(MapReduction.Flatten, Mask, "act"));
        Assert.Contains("padding included", e.Message);
    }

    [Fact]
    public void EachSampleUnderASampleCapIsPooledWithItsOwnMaskRow()
    {
        var got = Capture(MapReduction.Mean, Mask, "fc2", max: 3);
        Assert.Equal(3, got["fc2"].Rows);
        ReferenceAssert.Close(Npy.ReadMatrix(Fixture("mp_fc2_masked_mean.npy")).SelectRows(got.SampleIndices), got["fc2"], "fc2 under a sample cap", 1e-5);
    }

    [Fact]
    public void DeadUnitsAreJudgedOnRealTokensOnly()
    {
        var (source, ids) = Model();
        using var _ = source;
        var masked = new DeadUnitStudy(new LayerSelector("act"), BatchSize: 4) { TokenMask = Mask }.Run(source, ids);
        var all = new DeadUnitStudy(new LayerSelector("act"), BatchSize: 4).Run(source, ids);
        // Unit 0 is > 0 only on padding tokens: dead on the real tokens, alive on all of them.
        Assert.Equal(Npy.ReadMatrix(Fixture("mp_act_fires.npy")).Data, masked.Layer("act").Stats.FiringRates);
        Assert.Equal(Npy.ReadMatrix(Fixture("mp_act_fires_all.npy")).Data, all.Layer("act").Stats.FiringRates);
        Assert.Contains(0, masked.Layer("act").Stats.DeadUnits);
        Assert.DoesNotContain(0, all.Layer("act").Stats.DeadUnits);
        Assert.Equal(Mask, masked.TokenMask);
        Assert.Null(all.TokenMask);
        // Statistics count real tokens only: 18 real tokens x 16 units.
        Assert.Equal(18 * 16, masked.Layer("act").Stats.Values);
    }

    [Fact]
    public void AnUnknownMaskInputListsTheModelsInputs()
    {
        var e = Assert.ThrowsAny<ProbeException>(() => Capture(MapReduction.Mean, "mask"));
        Assert.IsType<ProbeArgumentException>(e);
        Assert.Contains("no input 'mask'", e.Message);
        Assert.Contains("'input_ids', 'attention_mask'", e.Message);
    }

    [Fact]
    public void AMaskThatIsNotNByTIsRefusedSayingWhatItExpected()
    {
        var mask = Npy.Read(Fixture("mp_mask.npy"));
        var flat = new NpyArray(NpyDType.Int64, [(int)mask.Count], mask.Data);
        var (source, ids) = Model(flat);
        using var _ = source;
        var e = Assert.Throws<ProbeException>(() => new ActivationCapture(new LayerSelector("fc2")) { TokenMask = Mask }.ToMemory(source, ids));
        Assert.Contains("has shape [30]", e.Message);
        Assert.Contains("it must be [N, T]", e.Message);
    }

    [Fact]
    public void ASampleWithNoRealTokenIsNamed()
    {
        var values = (long[])Npy.Read(Fixture("mp_mask.npy")).Data;
        values = (long[])values.Clone();
        for (int t = 0; t < 5; t++) values[4 * 5 + t] = 0;
        var (source, ids) = Model(new NpyArray(NpyDType.Int64, [6, 5], values));
        using var _ = source;
        var e = Assert.Throws<ProbeException>(() => new ActivationCapture(new LayerSelector("fc2")) { TokenMask = Mask }.ToMemory(source, ids));
        Assert.Contains("Sample 4 has no real token", e.Message);
    }

    [Fact]
    public void AMaskWithoutASequenceSiteSaysSo()
    {
        var e = Assert.Throws<ProbeArgumentException>(() => Capture(MapReduction.Mean, Mask, "head"));
        Assert.Contains("no selected site is one", e.Message);
        Assert.Contains("head [3]", e.Message);
    }

    [Fact]
    public void TheMaskCannotBeTheInputTheDataFeeds()
    {
        var (source, ids) = Model();
        using var _ = source;
        var e = Assert.Throws<ProbeArgumentException>(() => new ActivationCapture(new LayerSelector("fc2")) { TokenMask = "input_ids" }.ToMemory(source, ids));
        Assert.Contains("fed by the data set", e.Message);
    }

    [Fact]
    public void AModelWithoutNamedInputsSaysSo()
    {
        using var model = Probe.Models.ModelSpec.Parse("mlp:4-3-2:relu").Build(seed: 1);
        var data = new Dataset("x", new Matrix(2, 4, new float[8]), null, [4]);
        var e = Assert.Throws<ProbeArgumentException>(() => new ActivationCapture { TokenMask = Mask }.ToMemory(model, data));
        Assert.Contains($"no input named '{Mask}'", e.Message);
    }
}
