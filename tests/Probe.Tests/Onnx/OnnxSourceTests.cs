using System.Text.Json;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>
/// The ONNX source against PyTorch: tests/fixtures/onnx/make_onnx.py built the models in PyTorch 1.13, exported them
/// with torch.onnx.export and recorded what PyTorch's own forward hooks saw (reference.json names the files).
/// </summary>
public class OnnxSourceTests
{
    internal static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", file);

    static readonly JsonElement Reference = JsonDocument.Parse(File.ReadAllText(Fixture("reference.json"))).RootElement;

    static Matrix Ref(string file) => Npy.ReadMatrix(Fixture(file));

    /// <summary>Streams <paramref name="x"/> through a run in batches of <paramref name="batch"/> (the last one short).</summary>
    internal static (Dictionary<string, Matrix> Outputs, Dictionary<string, Matrix> Inputs, IReadOnlyList<LayerInfo> Layers) Capture(
        IActivationSource source, NpyArray x, IReadOnlyList<string> sites, MapReduction reduce = MapReduction.Mean, bool inputs = false, int batch = 5)
    {
        int n = x.Shape[0];
        int[] sample = x.Shape[1..];
        var data = Npy.ToMatrix(x).Data;
        int size = data.Length / n;
        using var run = source.Start(sites, reduce, inputs);
        var outs = new Dictionary<string, List<float[]>>();
        var ins = new Dictionary<string, List<float[]>>();
        for (int start = 0; start < n; start += batch)
        {
            int count = Math.Min(batch, n - start);
            run.Forward(data.AsSpan(start * size, count * size), count, sample, start);
            Collect(run.Outputs, outs);
            Collect(run.Inputs, ins);
        }
        return (outs.ToDictionary(kv => kv.Key, kv => Matrix.FromRows(kv.Value)), ins.ToDictionary(kv => kv.Key, kv => Matrix.FromRows(kv.Value)), run.Layers);
    }

    static void Collect(IReadOnlyDictionary<string, Matrix> batch, Dictionary<string, List<float[]>> into)
    {
        foreach (var (name, m) in batch)
        {
            if (!into.TryGetValue(name, out var rows)) into[name] = rows = new List<float[]>();
            for (int r = 0; r < m.Rows; r++) rows.Add(m.Row(r).ToArray());
        }
    }

    internal static void Close(Matrix expected, Matrix actual, double tol, string what)
    {
        Assert.True(expected.Rows == actual.Rows && expected.Cols == actual.Cols, $"{what}: shape {actual.Rows}x{actual.Cols}, expected {expected.Rows}x{expected.Cols}");
        double worst = 0;
        for (int i = 0; i < expected.Data.Length; i++) worst = Math.Max(worst, Math.Abs(expected.Data[i] - actual.Data[i]));
        Assert.True(worst <= tol, $"{what}: max |difference| {worst:G3} > {tol:G3}");
    }

    static readonly string[] ResNetSites =
        ["conv1", "relu", "layer1.0.conv1", "layer1.0.relu#0", "layer1.0.conv2", "layer1.0.add", "layer1.0.relu#1", "pool", "flatten", "fc"];

    [Fact]
    public void NamesFollowPyTorchModulesAndCalls()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        Assert.Equal(ResNetSites, source.Sites.Select(s => s.Name));
        Assert.Equal(["Conv", "Relu", "Conv", "Relu", "Conv", "Add", "Relu", "GlobalAveragePool", "Flatten", "Gemm"], source.Sites.Select(s => s.OpType));
        Assert.Equal([8, 16, 16], source.Sites.Single(s => s.Name == "layer1.0.relu#1").OutputShape!);
        Assert.Equal([3, 16, 16], source.InputShape!);
        Assert.Equal(0, source.FixedBatch);
        // Every key PyTorch's hooks recorded is a site.
        foreach (var key in Reference.GetProperty("resnet").GetProperty("sites").EnumerateObject())
            Assert.Contains(key.Name, source.Sites.Select(s => s.Name));

        using var bn = new OnnxActivationSource(Fixture("resnet_bn.onnx"));
        Assert.Equal(["conv1", "bn1", "relu", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu#0", "layer1.0.conv2", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu#1", "pool", "flatten", "fc"],
            bn.Sites.Select(s => s.Name));

        using var seq = new OnnxActivationSource(Fixture("seq.onnx"));
        Assert.Equal(["embed.matmul", "embed", "act", "proj.matmul", "proj"], seq.Sites.Select(s => s.Name));
        Assert.Equal([5, 4], seq.InputShape!);
    }

    [Theory]
    [InlineData("resnet.onnx", 5)]
    [InlineData("resnet.onnx", 16)]
    [InlineData("resnet_b1.onnx", 5)]   // fixed batch of 1: run sample by sample
    [InlineData("resnet_bn.onnx", 7)]   // BatchNormalization nodes kept
    [InlineData("resnet_ext.onnx", 5)]  // weights in an external data file
    public void SiteValuesEqualPyTorchHooks(string model, int batch)
    {
        using var source = new OnnxActivationSource(Fixture(model));
        var x = Npy.Read(Fixture("x.npy"));
        var sites = Reference.GetProperty("resnet").GetProperty("sites").EnumerateObject().ToList();
        var names = sites.Select(s => s.Name).ToList();
        var mean = Capture(source, x, names, MapReduction.Mean, inputs: true, batch);
        var max = Capture(source, x, names, MapReduction.Max, inputs: false, batch);
        foreach (var site in sites)
        {
            Close(Ref(site.Value.GetProperty("out_mean").GetString()!), mean.Outputs[site.Name], 1e-4, $"{model} {site.Name} mean");
            Close(Ref(site.Value.GetProperty("out_max").GetString()!), max.Outputs[site.Name], 1e-4, $"{model} {site.Name} max");
            if (site.Value.TryGetProperty("in_mean", out var inMean))
                Close(Ref(inMean.GetString()!), mean.Inputs[site.Name], 1e-4, $"{model} {site.Name} input mean");
        }
        Close(Ref("resnet_logits.npy"), mean.Outputs["fc"], 1e-4, $"{model} logits");
        Assert.Equal(names.OrderBy(n => Array.IndexOf(ResNetSites, n)), mean.Layers.Select(l => l.Name));
        Assert.Equal("Relu", mean.Layers.Single(l => l.Name == "layer1.0.relu#1").ModuleType);
        Assert.Equal(8, mean.Layers.Single(l => l.Name == "layer1.0.relu#1").Features);
    }

    [Fact]
    public void FixedBatchModelRunsSampleBySample()
    {
        using var source = new OnnxActivationSource(Fixture("resnet_b1.onnx"));
        Assert.Equal(1, source.FixedBatch);
        Assert.Equal(ResNetSites, source.Sites.Select(s => s.Name));
    }

    [Fact]
    public void FixedBatchOfFourRunsInPaddedChunks()
    {
        // resnet.onnx with its batch axis fixed to 4: batches of 5 samples run as chunks of 4 (the last one padded).
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("resnet.onnx")));
        foreach (var v in model.Graph.Input.Concat(model.Graph.Output))
            v.Type.TensorType.Shape.Dim[0] = new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = 4 };
        string dir = Directory.CreateTempSubdirectory("probe-onnx-").FullName;
        try
        {
            string path = Path.Combine(dir, "resnet_b4.onnx");
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
            using var source = new OnnxActivationSource(path);
            Assert.Equal(4, source.FixedBatch);
            var got = Capture(source, Npy.Read(Fixture("x.npy")), ["layer1.0.relu#1", "fc"], MapReduction.Mean, batch: 5).Outputs;
            var sites = Reference.GetProperty("resnet").GetProperty("sites");
            Close(Ref(sites.GetProperty("layer1.0.relu#1").GetProperty("out_mean").GetString()!), got["layer1.0.relu#1"], 1e-4, "b4 relu#1");
            Close(Ref("resnet_logits.npy"), got["fc"], 1e-4, "b4 logits");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void DeadChannelsEqualPyTorchs()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        var relus = new LayerSelector("type:relu").Resolve(source.Sites).ToList();
        Assert.Equal(["relu", "layer1.0.relu#0", "layer1.0.relu#1"], relus);
        var max = Capture(source, Npy.Read(Fixture("x.npy")), relus, MapReduction.Max).Outputs;
        foreach (var site in Reference.GetProperty("resnet").GetProperty("dead").EnumerateObject())
        {
            var expected = site.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var m = max[site.Name];
            // A channel fires when any position of any sample is positive: its max over positions is > 0 somewhere.
            var dead = Enumerable.Range(0, m.Cols).Where(c => Enumerable.Range(0, m.Rows).All(r => m[r, c] <= 0)).ToArray();
            Assert.Equal(expected, dead);
        }
    }

    [Theory]
    [InlineData(MapReduction.Mean, "mean")]
    [InlineData(MapReduction.Max, "max")]
    [InlineData(MapReduction.First, "first")]
    [InlineData(MapReduction.Last, "last")]
    [InlineData(MapReduction.Flatten, "flatten")]
    public void TokenOutputsReduceLikeNumPy(MapReduction reduce, string key)
    {
        using var source = new OnnxActivationSource(Fixture("seq.onnx"));
        var sites = Reference.GetProperty("seq").GetProperty("sites");
        var got = Capture(source, Npy.Read(Fixture("seq_x.npy")), ["embed", "act", "proj"], reduce, batch: 6).Outputs;
        foreach (var site in sites.EnumerateObject())
            Close(Ref(site.Value.GetProperty(key).GetString()!), got[site.Name], 1e-5, $"seq {site.Name} {key}");
    }

    [Fact]
    public void FirstAndLastAreRefusedOnFeatureMaps()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        var e = Assert.Throws<ProbeException>(() => Capture(source, Npy.Read(Fixture("x.npy")), ["layer1.0.add"], MapReduction.Last));
        Assert.Contains("layer1.0.add", e.Message);
        Assert.Contains("mean, max or flatten", e.Message);
    }

    [Fact]
    public void SecondInputOfTokenIdsStaysInt64()
    {
        var ids = Npy.Read(Fixture("two_ids.npy"));
        Assert.Equal(NpyDType.Int64, ids.DType);
        using var source = new OnnxActivationSource(Fixture("two.onnx"), new Dictionary<string, NpyArray> { ["ids"] = ids });
        Assert.Equal("x", source.DataInputName);
        Assert.Equal(["emb", "reducemean", "lin", "add", "act", "head"], source.Sites.Select(s => s.Name));
        var got = Capture(source, Npy.Read(Fixture("two_x.npy")), ["emb", "act", "head"], MapReduction.Mean, inputs: true, batch: 5);
        foreach (var site in Reference.GetProperty("two").GetProperty("sites").EnumerateObject())
            Close(Ref(site.Value.GetString()!), got.Outputs[site.Name], 1e-5, $"two {site.Name}");
        // The embedding's input is the id tensor itself (its per-sample [3] ids as columns).
        var idRows = Npy.ToMatrix(ids);
        Close(idRows, got.Inputs["emb"], 0, "ids as the embedding's input");
    }

    /// <summary>A data set that is not a <see cref="Dataset"/>: its subsets are streamed views.</summary>
    sealed class Streamed(Dataset inner) : IDataset
    {
        public string Name => inner.Name;
        public int Count => inner.Count;
        public int[] SampleShape => inner.SampleShape;
        public int[]? Labels => inner.Labels;
        public IReadOnlyList<string>? ClassNames => inner.ClassNames;
        public void ReadBatch(int start, int count, Span<float> destination) => inner.ReadBatch(start, count, destination);
    }

    static (OnnxActivationSource Source, Dataset Data) TwoInputs(NpyArray? ids = null)
    {
        var x = Npy.Read(Fixture("two_x.npy"));
        var source = new OnnxActivationSource(Fixture("two.onnx"), new Dictionary<string, NpyArray> { ["ids"] = ids ?? Npy.Read(Fixture("two_ids.npy")) });
        return (source, new Dataset("two", Npy.ToMatrix(x), null, x.Shape[1..]));
    }

    /// <summary>Each row of <paramref name="got"/> is PyTorch's row of the sample it stands for.</summary>
    static void SamplesArePyTorchs(CapturedActivations got, IReadOnlyList<int> samples, string what)
    {
        foreach (var site in Reference.GetProperty("two").GetProperty("sites").EnumerateObject())
            Close(Ref(site.Value.GetString()!).SelectRows(samples), got[site.Name], 1e-5, $"{what}: {site.Name}");
    }

    [Fact]
    public void SideInputRowsFollowEachSampleUnderASampleCap()
    {
        var (source, data) = TwoInputs();
        using var _ = source;
        var capture = new ActivationCapture(new LayerSelector("emb,act,head"), MapReduction.Mean, BatchSize: 4);
        var capped = capture.ToMemory(source, data, maxSamples: 5, seed: 3);
        Assert.NotEqual(Enumerable.Range(0, 5), capped.SampleIndices); // a real sub-sample, not the first rows
        SamplesArePyTorchs(capped, capped.SampleIndices, "capped");
        // And through a streamed data set's subset view.
        SamplesArePyTorchs(capture.ToMemory(source, new Streamed(data), maxSamples: 5, seed: 3), capped.SampleIndices, "streamed, capped");
        // A sample's activations do not depend on the subset it is captured in.
        var full = capture.ToMemory(source, data);
        for (int i = 0; i < capped.SampleIndices.Length; i++)
            Assert.Equal(full["emb"].Row(capped.SampleIndices[i]).ToArray(), capped["emb"].Row(i).ToArray());
    }

    [Fact]
    public void SideInputRowsFollowEachSampleOfAShard()
    {
        var (source, data) = TwoInputs();
        using var _ = source;
        var capture = new ActivationCapture(new LayerSelector("emb,act,head"), MapReduction.Mean, BatchSize: 4);
        var shard = new Shard(1, 2);
        var (start, count) = shard.Range(data.Count, 4);
        Assert.True(start > 0);
        var rows = Enumerable.Range(start, count).ToArray();
        SamplesArePyTorchs(capture.ToMemory(source, shard.Slice(data, 4)), rows, "shard 1/2");
        SamplesArePyTorchs(capture.ToMemory(source, shard.Slice(new Streamed(data), 4)), rows, "streamed shard 1/2");
        // The CLI's order: a sample cap, then a shard of it.
        var capped = data.Subset(SampleChooser.Choose(data.Count, 9, 1));
        var (s2, c2) = shard.Range(capped.Count, 2);
        var expected = Enumerable.Range(s2, c2).Select(capped.OriginalRow).ToArray();
        Assert.NotEqual(Enumerable.Range(s2, c2), expected);
        SamplesArePyTorchs(capture.ToMemory(source, shard.Slice(capped, 2)), expected, "shard 1/2 of 9 capped samples");
    }

    [Fact]
    public void SideInputsNeedOneRowPerSampleOfTheWholeDataSet()
    {
        var ids = Npy.Read(Fixture("two_ids.npy"));
        var values = (long[])ids.Data;
        int n = ids.Shape[0], width = ids.Shape[1];
        var capture = new ActivationCapture(new LayerSelector("act"), BatchSize: 4);
        // More id rows than samples.
        var (more, data) = TwoInputs(new NpyArray(NpyDType.Int64, [n + 3, width], values.Concat(values[..(3 * width)]).ToArray()));
        using (more)
        {
            var e = Assert.Throws<ProbeException>(() => capture.ToMemory(more, data));
            Assert.Contains($"Input 'ids' has {n + 3} rows but data set 'two' has {n} samples", e.Message);
            // Under a cap too: the rows belong to the whole data set.
            e = Assert.Throws<ProbeException>(() => capture.ToMemory(more, data, maxSamples: 4));
            Assert.Contains($"is taken from one of {n} samples", e.Message);
        }
        // A data set of fewer samples that is not a subset of the ids' samples.
        var (source, _) = TwoInputs();
        using (source)
        {
            var fewer = new Dataset("fewer", data.Features.SelectRows(Enumerable.Range(0, n - 3).ToArray()), null, data.SampleShape);
            var e = Assert.Throws<ProbeException>(() => capture.ToMemory(source, fewer));
            Assert.Contains($"Input 'ids' has {n} rows but data set 'fewer' has {n - 3} samples", e.Message);
        }
    }

    /// <summary>
    /// A graph's sites are listed without arrays for its other inputs (probe layers has no --input; it failed on every
    /// model with an attention mask or token ids beside its data input); running it names the missing input.
    /// </summary>
    [Fact]
    public void MissingOrUnknownInputsAreNamed()
    {
        using (var listed = new OnnxActivationSource(Fixture("two.onnx")))
        {
            // PyTorch's module names (make_onnx.py's Two: emb, lin, act, head; the functional mean and sum).
            Assert.Equal(["emb", "reducemean", "lin", "add", "act", "head"], listed.Sites.Select(s => s.Name));
            var x = Npy.Read(Fixture("two_x.npy"));
            var e0 = Assert.Throws<ProbeException>(() => Capture(listed, x, ["act"]));
            Assert.Contains("missing: ids", e0.Message);
            e0 = Assert.Throws<ProbeException>(() => listed.Bind(new Dataset("two", Npy.ToMatrix(x), null, x.Shape[1..])));
            Assert.Contains("missing: ids", e0.Message);
        }
        ProbeException e;
        var ids = Npy.Read(Fixture("two_ids.npy"));
        e = Assert.Throws<ProbeArgumentException>(() => new OnnxActivationSource(Fixture("two.onnx"), new Dictionary<string, NpyArray> { ["tokens"] = ids }));
        Assert.Contains("no input 'tokens'", e.Message);
        Assert.Contains("'ids'", e.Message);
        // Fewer id rows than samples.
        var few = new NpyArray(NpyDType.Int64, [4, 3], ((long[])ids.Data)[..12]);
        using var source = new OnnxActivationSource(Fixture("two.onnx"), new Dictionary<string, NpyArray> { ["ids"] = few });
        e = Assert.Throws<ProbeException>(() => Capture(source, Npy.Read(Fixture("two_x.npy")), ["act"]));
        Assert.Contains("'ids' has 4 rows", e.Message);
    }

    [Fact]
    public void WrongSampleShapeIsExplained()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        using var run = source.Start(["relu"], MapReduction.Mean, false);
        var e = Assert.Throws<ProbeException>(() => run.Forward(new float[2 * 300], 2, [3, 10, 10], 0));
        Assert.Contains("[3, 16, 16]", e.Message);
        // A flat sample of the right size is reshaped to the model's input.
        var x = Npy.Read(Fixture("x.npy"));
        var flat = new NpyArray(NpyDType.Float32, [16, 768], x.Data);
        Close(Capture(source, x, ["relu"]).Outputs["relu"], Capture(source, flat, ["relu"]).Outputs["relu"], 0, "flat input");
    }

    [Fact]
    public void CaptureRefusesChannelsLastSamplesForAChannelsFirstModel()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        Assert.Equal([3, 16, 16], source.InputShape!);
        var x = Npy.Read(Fixture("x.npy"));
        var nchw = Npy.ToMatrix(x);
        // The same images stored channels-last, [16, 16, 3] per sample.
        var nhwc = Matrix.Create(nchw.Rows, nchw.Cols, (r, i) => nchw[r, (i % 3) * 256 + i / 3]);
        var capture = new ActivationCapture(new LayerSelector("fc"), BatchSize: 8);
        var e = Assert.Throws<ProbeException>(() => capture.ToMemory(source, new Dataset("hwc", nhwc, null, [16, 16, 3])));
        Assert.Contains("channels-last", e.Message);
        Assert.Contains("layout=nhwc", e.Message);
        // Channels-first samples, and the same values as flat rows (a plain reshape), give PyTorch's values.
        var fc = Ref("resnet_logits.npy");
        Close(fc, capture.ToMemory(source, new Dataset("chw", nchw, null, [3, 16, 16]))["fc"], 1e-4, "fc of [3, 16, 16] samples");
        Close(fc, capture.ToMemory(source, new Dataset("flat", nchw, null, [768]))["fc"], 1e-4, "fc of flat samples");
    }

    [Fact]
    public void SelectorsWorkOverSites()
    {
        using var source = new OnnxActivationSource(Fixture("resnet.onnx"));
        Assert.Equal(["layer1.0.add"], new LayerSelector("type:Add").Resolve(source.Sites));
        Assert.Equal(["layer1.0.relu#0", "layer1.0.relu#1"], new LayerSelector("layer1.0.relu").Resolve(source.Sites));
        Assert.Equal(["relu", "layer1.0.relu#0", "layer1.0.relu#1"], new LayerSelector("*relu*").Resolve(source.Sites));
        Assert.Equal(ResNetSites, new LayerSelector("all").Resolve(source.Sites));
        ProbeException e = Assert.Throws<ProbeArgumentException>(() => new LayerSelector("type:LSTM").Resolve(source.Sites));
        Assert.Contains("No site of type 'LSTM'", e.Message);
        Assert.Contains("Relu", e.Message);
        Assert.Contains("GlobalAveragePool", e.Message);
        e = Assert.Throws<ProbeArgumentException>(() => new LayerSelector("layer1.0.relu_1").Resolve(source.Sites));
        Assert.Contains("layer1.0.relu#1 (Relu)", e.Message);
        e = Assert.Throws<ProbeException>(() => source.Start(["nope"], MapReduction.Mean, false));
        Assert.Contains("layer1.0.relu#1", e.Message);
    }

    [Fact]
    public void BadFilesGiveOneClearLine()
    {
        string dir = Directory.CreateTempSubdirectory("probe-onnx-").FullName;
        try
        {
            var bytes = File.ReadAllBytes(Fixture("resnet.onnx"));
            var cases = new Dictionary<string, byte[]>
            {
                ["truncated.onnx"] = bytes[..(bytes.Length / 2)],
                ["short.onnx"] = bytes[..40],
                ["text.onnx"] = System.Text.Encoding.UTF8.GetBytes("this is not a model\n"),
                ["empty.onnx"] = [],
                ["npy.onnx"] = File.ReadAllBytes(Fixture("x.npy")),
            };
            foreach (var (name, content) in cases)
            {
                string path = Path.Combine(dir, name);
                File.WriteAllBytes(path, content);
                var e = Assert.Throws<ProbeException>(() => new OnnxActivationSource(path));
                Assert.DoesNotContain('\n', e.Message);
                Assert.Contains(name, e.Message);
            }
            var missing = Assert.Throws<ProbeException>(() => new OnnxActivationSource(Path.Combine(dir, "nothing.onnx")));
            Assert.Contains("does not exist", missing.Message);
            // External data file gone.
            File.Copy(Fixture("resnet_ext.onnx"), Path.Combine(dir, "resnet_ext.onnx"));
            var ext = Assert.Throws<ProbeException>(() => new OnnxActivationSource(Path.Combine(dir, "resnet_ext.onnx")));
            Assert.DoesNotContain('\n', ext.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("resnet.onnx", "relu", "conv1", null)]
    [InlineData("resnet.onnx", "layer1.0.relu#0", "layer1.0.conv1", null)]
    [InlineData("resnet_bn.onnx", "relu", "conv1", "bn1")]
    [InlineData("resnet_bn.onnx", "layer1.0.relu#0", "layer1.0.conv1", "layer1.0.bn1")]
    public void ConvFedReluHasTheFoldedAffineOrigin(string model, string site, string conv, string? folded)
    {
        using var source = new OnnxActivationSource(Fixture(model));
        var origin = Assert.IsType<SiteOrigin.Affine>(source.Origin(site));
        var reference = Reference.GetProperty("resnet").GetProperty("folded").GetProperty(site);
        var bias = reference.GetProperty("bias").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var weight = Ref(reference.GetProperty("weight").GetString()!);
        Assert.Equal(conv, origin.Layer);
        Assert.Equal("Conv", origin.LayerType);
        Assert.Equal(folded, origin.Folded);
        Assert.Equal(conv, origin.InputSite);
        Assert.Equal(weight.Cols, origin.InFeatures);
        Close(new Matrix(1, bias.Length, bias), new Matrix(1, origin.Bias.Length, origin.Bias), 1e-4, $"{model} {site} folded bias");
        Close(weight, new Matrix(weight.Rows, origin.InFeatures, origin.Weight), 1e-5, $"{model} {site} folded weight");
    }

    [Theory]
    [InlineData("resnet.onnx")]
    [InlineData("resnet_bn.onnx")]
    public void ReluAfterTheResidualAddHasNoAffineOrigin(string model)
    {
        using var source = new OnnxActivationSource(Fixture(model));
        var origin = Assert.IsType<SiteOrigin.Unknown>(source.Origin("layer1.0.relu#1"));
        Assert.Contains("Add 'layer1.0.add'", origin.Reason);
        var fc = Assert.IsType<SiteOrigin.Unknown>(source.Origin("fc"));
        Assert.Contains("Flatten", fc.Reason);
        // The sum itself has two computed inputs: no single layer explains it.
        var add = Assert.IsType<SiteOrigin.Unknown>(source.Origin("layer1.0.add"));
        Assert.Contains("combines 2 computed inputs", add.Reason);
    }

    [Fact]
    public void LinearOverTokensOriginReproducesPyTorchsOutput()
    {
        // act = relu(embed(x)); Origin gives W, b of embed (MatMul + Add). Its pre-activation, averaged over tokens,
        // is W·mean_t(x) + b: compared with PyTorch's embed output averaged over tokens.
        using var source = new OnnxActivationSource(Fixture("seq.onnx"));
        var origin = Assert.IsType<SiteOrigin.Affine>(source.Origin("act"));
        Assert.Equal("embed", origin.Layer);
        Assert.Equal("embed.matmul", origin.InputSite);
        var x = Npy.Read(Fixture("seq_x.npy"));
        var inputs = Capture(source, x, [origin.InputSite], MapReduction.Mean, inputs: true).Inputs[origin.InputSite];
        var expected = Ref(Reference.GetProperty("seq").GetProperty("sites").GetProperty("embed").GetProperty("mean").GetString()!);
        var pre = Matrix.Create(inputs.Rows, origin.Bias.Length, (r, u) =>
        {
            double s = origin.Bias[u];
            for (int j = 0; j < origin.InFeatures; j++) s += origin.Weight[u * origin.InFeatures + j] * inputs[r, j];
            return (float)s;
        });
        Close(expected, pre, 1e-5, "W mean(x) + b");
    }

    /// <summary>
    /// nn.MultiheadAttention inside a batch-first nn.TransformerEncoderLayer runs sequence-first: its query projection
    /// (the Slice) is [T, N, D] with T = 4 tokens. In batches of 4 samples that shape looks batch-first, and it was
    /// captured as one row per token averaged over the batch (1.07 from PyTorch's per-sample values); it is refused,
    /// in any batch size, while the batch-first layer norm beside it still matches PyTorch's hook
    /// (tests/fixtures/onnx/make_mha.py).
    /// </summary>
    [Theory]
    [InlineData(4)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void SequenceFirstValueIsRefusedWhateverTheBatchSize(int batch)
    {
        using var source = new OnnxActivationSource(Fixture("mha.onnx"));
        var x = Npy.Read(Fixture("mha_x.npy"));
        var e = Assert.Throws<ProbeException>(() => Capture(source, x, ["layer.self_attn.slice#0", "layer.norm1"], batch: batch));
        Assert.Contains("'layer.self_attn.slice#0' (Slice) is not a site", e.Message);
        Assert.Contains("not the batch axis of input 'x'", e.Message);

        var got = Capture(source, x, ["layer.norm1", "layer.add#0"], batch: batch);
        Close(Ref("mha_norm1.npy"), got.Outputs["layer.norm1"], 1e-5, $"norm1 in batches of {batch}");
    }

    /// <summary>
    /// Before any data: the input's per-sample shape is static ([4, 8]), so the source runs a zero sample as a batch of
    /// one and of two and lists no sequence-first value. With a dynamic token axis (mha_dyn.onnx) it cannot, lists them
    /// and says so (<see cref="IActivationSource.SitesCaveat"/>) until it is bound to data.
    /// </summary>
    [Fact]
    public void SequenceFirstValuesAreLeftOutBeforeAnyDataWhenTheInputShapesAreStatic()
    {
        using (var source = new OnnxActivationSource(Fixture("mha.onnx")))
        {
            Assert.DoesNotContain(source.Sites, s => s.Name == "layer.self_attn.slice#0");
            Assert.Contains(source.Sites, s => s.Name == "layer.norm1");
            Assert.Null(((IActivationSource)source).SitesCaveat);
            Assert.Contains("a batch of 1 gives it a first axis of 4, a batch of 2 of 4", source.NotASite("layer.self_attn.slice#0"));
        }
        using var dynamic = new OnnxActivationSource(Fixture("mha_dyn.onnx"));
        Assert.Contains(dynamic.Sites, s => s.Name == "layer.self_attn.slice#0");
        Assert.Contains("not checked for sequence-first values", dynamic.SitesCaveat);
        var x = Npy.Read(Fixture("mha_x.npy"));
        dynamic.Bind(new Dataset("x", Npy.ToMatrix(x), null, x.Shape[1..]));
        Assert.DoesNotContain(dynamic.Sites, s => s.Name == "layer.self_attn.slice#0");
        Assert.Null(dynamic.SitesCaveat);
    }

    /// <summary>
    /// Bound to data, the source runs its first sample as a batch of one and of two and drops the sequence-first values
    /// from its sites, so a capture of every site (the default) runs, in batches of as many samples as tokens too, and
    /// selecting one of them says why it is not a site.
    /// </summary>
    [Fact]
    public void SequenceFirstValuesAreLeftOutOfTheSitesOnceBound()
    {
        using var source = new OnnxActivationSource(Fixture("mha.onnx"));
        var x = Npy.Read(Fixture("mha_x.npy"));
        var data = new Dataset("x", Npy.ToMatrix(x), null, x.Shape[1..]);
        var all = new ActivationCapture(BatchSize: 4).ToMemory(source, data);
        Assert.DoesNotContain(source.Sites, s => s.Name == "layer.self_attn.slice#0");
        Assert.DoesNotContain("layer.self_attn.slice#0", all.LayerNames);
        Assert.Contains("layer.norm1", all.LayerNames);
        Close(Ref("mha_norm1.npy"), all["layer.norm1"], 1e-5, "norm1 of a capture of every site in batches of 4");
        var e = Assert.ThrowsAny<ProbeException>(() => new ActivationCapture(new LayerSelector("layer.self_attn.slice#0")).ToMemory(source, data));
        Assert.Contains("'layer.self_attn.slice#0' (Slice) is not a site", e.Message);
        Assert.Contains("a batch of 1 gives it a first axis of 4, a batch of 2 of 4", e.Message);
    }
}
