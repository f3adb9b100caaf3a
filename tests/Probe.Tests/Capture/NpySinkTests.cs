using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Capture;

public class NpySinkTests
{
    /// <summary>The integer-weight MLP of tests/fixtures/npy_sink (weights written by NumPy).</summary>
    static TorchSharp.Modules.Sequential FixtureMlp()
    {
        var model = nn.Sequential(
            ("fc1", nn.Linear(6, 8)), ("relu1", nn.ReLU()),
            ("fc2", nn.Linear(8, 5)), ("relu2", nn.ReLU()),
            ("fc3", nn.Linear(5, 3)));
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            // fc1.weight -> w1.npy, fc1.bias -> b1.npy
            string file = (name.EndsWith(".weight", StringComparison.Ordinal) ? "w" : "b") + name[2] + ".npy";
            var m = ReferenceFixtures.Matrix("npy_sink", file);
            p.copy_(torch.tensor(m.Data, p.shape));
        }
        return model;
    }

    [Fact]
    public void StreamedFilesEqualNumPysNpSaveByteForByte()
    {
        // Reference: tests/fixtures/npy_sink, every layer's output computed and np.save'd by NumPy 1.24 (integer
        // weights and inputs: the values are exact in float32, so only the file format can differ).
        using var model = FixtureMlp();
        var x = ReferenceFixtures.Matrix("npy_sink", "input.npy");
        var labels = Npy.ReadInt32(ReferenceFixtures.Path("npy_sink", "labels.npy"));
        var data = new Dataset("fixture", x, labels, new[] { 6 });
        string dir = Path.Combine(Path.GetTempPath(), "probe-npysink-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var sink = new NpySink(dir))
                new ActivationCapture(BatchSize: 8).Run(model, data, sink); // 45 rows: five batches of 8 and one of 5
            foreach (var file in new[] { "fc1.npy", "relu1.npy", "fc2.npy", "relu2.npy", "fc3.npy", "labels.npy" })
                Assert.Equal(File.ReadAllBytes(ReferenceFixtures.Path("npy_sink", file)), File.ReadAllBytes(Path.Combine(dir, file)));
            Assert.Equal(6, Directory.GetFiles(dir).Length);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>
    /// A capture cancelled after 16 of 45 samples leaves no file behind (not well-formed files of 16 rows that open as a
    /// capture); the same sink on the same folder, run to the end, writes NumPy's files.
    /// </summary>
    [Fact]
    public void ACancelledCaptureLeavesNoFilesThatLookComplete()
    {
        using var model = FixtureMlp();
        var x = ReferenceFixtures.Matrix("npy_sink", "input.npy");
        var data = new Dataset("fixture", x, Npy.ReadInt32(ReferenceFixtures.Path("npy_sink", "labels.npy")), new[] { 6 });
        string dir = Path.Combine(Path.GetTempPath(), "probe-npysink-cancel-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var cts = new CancellationTokenSource();
            var capture = new ActivationCapture(BatchSize: 8) { Cancellation = cts.Token, Progress = (done, _) => { if (done >= 16) cts.Cancel(); } };
            using (var sink = new NpySink(dir))
                Assert.ThrowsAny<OperationCanceledException>(() => capture.Run(model, data, sink));
            Assert.Empty(Directory.GetFiles(dir));
            using (var sink = new NpySink(dir))
                new ActivationCapture(BatchSize: 8).Run(model, data, sink);
            Assert.Equal(File.ReadAllBytes(ReferenceFixtures.Path("npy_sink", "fc3.npy")), File.ReadAllBytes(Path.Combine(dir, "fc3.npy")));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void NpyWriteOfAMatrixEqualsNumPysNpSave()
    {
        string path = Path.Combine(Path.GetTempPath(), "probe-npywrite-" + Guid.NewGuid().ToString("N") + ".npy");
        try
        {
            Npy.Write(path, ReferenceFixtures.Matrix("npy_sink", "fc2.npy"));
            Assert.Equal(File.ReadAllBytes(ReferenceFixtures.Path("npy_sink", "fc2.npy")), File.ReadAllBytes(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LayerNamesBecomeFileSafe() => Assert.Equal("features.3_x.npy", NpySink.FileName("features.3/x"));

    /// <summary>
    /// Names that make the same file: "a/b" and "a_b" both sanitise to a_b.npy (and "A_b" to the same file on macOS and
    /// Windows), and a layer named "labels" would have been written to labels.npy, which the labels then overwrote. Each
    /// layer now gets a file of its own, the later ones with _2, _3, ..., and the labels keep labels.npy: worked by hand.
    /// </summary>
    [Fact]
    public void LayersWhoseNamesMakeTheSameFileEachGetTheirOwn()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-npysink-" + Guid.NewGuid().ToString("N"));
        try
        {
            var names = new[] { "labels", "a/b", "a_b", "A_b", "rows", "token_mask" };
            var outputs = names.Select((n, i) => (n, m: Matrix.Create(2, 1, (r, _) => 10 * i + r))).ToDictionary(t => t.n, t => t.m);
            using (var sink = new NpySink(dir))
            {
                sink.OnBatch(new ActivationBatch(0, 2, [7, 9], outputs, new Dictionary<string, Matrix>()));
                sink.OnEnd([]);
                Assert.Equal(new Dictionary<string, string>
                {
                    ["labels"] = "labels_2.npy", ["a/b"] = "a_b.npy", ["a_b"] = "a_b_2.npy", ["A_b"] = "A_b_3.npy",
                    ["rows"] = "rows_2.npy", ["token_mask"] = "token_mask_2.npy",
                }, sink.Files);
            }
            Assert.Equal([7, 9], Npy.ReadInt32(Path.Combine(dir, "labels.npy")));
            for (int i = 0; i < names.Length; i++)
                Assert.Equal(new float[] { 10 * i, 10 * i + 1 }, Npy.ReadMatrix(Path.Combine(dir, NpySink.FileNames(names)[names[i]])).Data);
            Assert.Equal(names.Length + 1, Directory.GetFiles(dir).Length);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

public class NonFiniteCountTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(37, 2)]
    [InlineData(1000, 3)]
    public void CountsNaNAndInfinitiesAnywhereInTheBuffer(int length, int seed)
    {
        var rng = new Random(seed);
        var values = Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        int expected = 0;
        for (int i = 0; i < length; i += 1 + rng.Next(50))
        {
            values[i] = (expected % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
            expected++;
        }
        Assert.Equal(expected, Probe.Matrix.CountNonFinite(values));
        Assert.Equal(values.Count(v => !float.IsFinite(v)), expected);
        // The copy that checks as it goes: an exact copy, and "all finite" exactly when nothing was counted.
        var copy = new float[length];
        Assert.Equal(expected == 0, Probe.Matrix.CopyAllFinite(values, copy));
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), copy.Select(BitConverter.SingleToInt32Bits));
        var clean = values.Select(v => float.IsFinite(v) ? v : 1f).ToArray();
        Assert.True(Probe.Matrix.CopyAllFinite(clean, copy));
    }

    /// <summary>
    /// One NaN or infinity at any position of 77 values (two blocks of 32, one vector of 8, 5 left over: every path of
    /// the copy) makes the copy report "not all finite", and the copy is still exact.
    /// </summary>
    [Fact]
    public void CopySeesOneNonFiniteValueAtAnyPosition()
    {
        var values = Enumerable.Range(0, 77).Select(i => i * 0.5f - 20).ToArray();
        var copy = new float[77];
        Assert.True(Probe.Matrix.CopyAllFinite(values, copy));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            for (int at = 0; at < values.Length; at++)
            {
                var v = (float[])values.Clone();
                v[at] = bad;
                Assert.False(Probe.Matrix.CopyAllFinite(v, copy), $"{bad} at {at}");
                Assert.Equal(v.Select(BitConverter.SingleToInt32Bits), copy.Select(BitConverter.SingleToInt32Bits));
            }
    }
}

public class ConsumerTensorLifetimeTests
{
    sealed class KeepsATensor : Probe.Capture.IActivationConsumer
    {
        public TorchSharp.torch.Tensor? Kept;
        public void OnBatch(Probe.Capture.ActivationBatch batch)
        {
            Kept ??= TorchSharp.torch.zeros(3);
            Kept.add_(1);
        }
    }

    [Fact]
    public void TensorsAConsumerCreatesAreNotDisposedByTheCapturesBatchScope()
    {
        var keeper = new KeepsATensor();
        new Probe.Capture.ActivationCapture(BatchSize: 4).Run(CaptureTests.Mlp(), CaptureTests.Random(10, 6), keeper);
        Assert.False(keeper.Kept!.IsInvalid);
        Assert.Equal(3f, keeper.Kept[0].item<float>()); // three batches
    }
}

public class SamplerAgreementTests
{
    [Fact]
    public void CaptureAndDataUniformSamplingPickTheSameRows()
    {
        var data = new Probe.Data.Dataset("u", new Matrix(500, 1), null, new[] { 1 });
        var a = Probe.Capture.SampleChooser.Choose(500, 60, seed: 9);
        Assert.Equal(a, data.SampleIndices(60, seed: 9, stratified: false));
        Assert.Equal(60, a.Distinct().Count());
        Assert.True(a.SequenceEqual(a.Order()));
        Assert.NotEqual(a, Probe.Capture.SampleChooser.Choose(500, 60, seed: 10));
    }
}
