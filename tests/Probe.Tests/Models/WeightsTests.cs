using System.Buffers.Binary;
using System.Text;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

public class WeightsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-weights-" + Guid.NewGuid().ToString("N"));

    public WeightsTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static float[] Forward(nn.Module<Tensor, Tensor> m, Matrix x)
    {
        using var scope = NewDisposeScope();
        using var g = no_grad();
        var t = tensor(x.Data, [x.Rows, x.Cols]);
        return m.call(t).data<float>().ToArray();
    }

    /// <summary>The PyTorch-trained digits MLP reproduces PyTorch's fc4 output and test accuracy (expected.json digits_mlp).</summary>
    [Fact]
    public void Pytorch_safetensors_fixture_reproduces_pytorch_outputs()
    {
        using var m = ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(0);
        Weights.Load(m, TestNpy.Fixture("digits_mlp.safetensors"));
        var x = TestNpy.ReadMatrix(TestNpy.Fixture("digits_input.npy"));
        var expected = TestNpy.ReadMatrix(TestNpy.Fixture("digits_fc4.npy"));
        var y = Forward(m, x);
        Assert.Equal(expected.Data.Length, y.Length);
        // float32 GEMMs in a different summation order: agree to 1e-5 relative to (1 + |value|); logits reach ~30.
        double maxRel = 0, maxAbs = 0;
        for (int i = 0; i < y.Length; i++)
        {
            double d = Math.Abs(y[i] - expected.Data[i]);
            maxAbs = Math.Max(maxAbs, d);
            maxRel = Math.Max(maxRel, d / (1 + Math.Abs(expected.Data[i])));
        }
        Assert.True(maxRel < 1e-5, $"max |diff| / (1 + |expected|) = {maxRel}, max |diff| = {maxAbs}");

        var labels = TestNpy.ReadInt32(TestNpy.Fixture("digits_labels.npy"));
        var train = TestNpy.ReadBool(TestNpy.Fixture("digits_probe_train_mask.npy"));
        int correct = 0, total = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (train[i]) continue;
            int best = 0;
            for (int k = 1; k < 10; k++) if (y[i * 10 + k] > y[i * 10 + best]) best = k;
            total++; if (best == labels[i]) correct++;
        }
        Assert.Equal(597, total);
        Assert.Equal(0.9715242881072027, (double)correct / total, 12); // expected.json digits_mlp.network_test_accuracy
    }

    [Theory]
    [InlineData(SafeTensorsDType.F32, 0.0)]
    [InlineData(SafeTensorsDType.F64, 0.0)]
    [InlineData(SafeTensorsDType.F16, 1.0 / 1024)]
    [InlineData(SafeTensorsDType.BF16, 1.0 / 128)]
    public void Dtypes_round_trip_within_their_precision(SafeTensorsDType dtype, double relTol)
    {
        using var m = ModelSpec.Parse("mlp:6-5-3:tanh").Build(11);
        var original = Weights.Export(m);
        string path = Path.Combine(_dir, $"w-{dtype}.safetensors");
        SafeTensors.Write(path, original, new Dictionary<string, string> { ["format"] = "pt" }, dtype);
        var header = SafeTensors.ReadHeader(path);
        Assert.All(header.Entries, e => Assert.Equal(dtype, e.DType));
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Equal(0, header.DataStart % 8);

        using var m2 = ModelSpec.Parse("mlp:6-5-3:tanh").Build(12);
        Weights.Load(m2, path);
        var back = Weights.Export(m2);
        for (int i = 0; i < original.Count; i++)
        {
            Assert.Equal(original[i].Name, back[i].Name);
            for (int j = 0; j < original[i].Data.Length; j++)
            {
                double a = original[i].Data[j], b = back[i].Data[j];
                Assert.True(Math.Abs(a - b) <= relTol * Math.Abs(a) + 1e-12, $"{dtype} {original[i].Name}[{j}]: {a} vs {b}");
            }
        }
    }

    [Fact]
    public void Bfloat16_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, SafeTensors.ToBFloat16(1.0f));
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties to even gives 1.0.
        Assert.Equal(0x3F80, SafeTensors.ToBFloat16(1.00390625f));
        Assert.Equal(0x3F81, SafeTensors.ToBFloat16(1.0059f));
    }

    [Fact]
    public void Save_then_load_is_exact_for_both_formats()
    {
        var spec = ModelSpec.Parse("cnn:8x8:4:2-3-5");
        using var a = spec.Build(1);
        foreach (var file in new[] { "w.safetensors", "w.dat" })
        {
            string path = Path.Combine(_dir, file);
            Weights.Save(a, path);
            using var b = spec.Build(2);
            Weights.Load(b, path);
            var ea = Weights.Export(a); var eb = Weights.Export(b);
            for (int i = 0; i < ea.Count; i++) Assert.Equal(ea[i].Data, eb[i].Data);
        }
    }

    [Fact]
    public void An_onnx_file_given_as_weights_says_to_give_it_as_the_model()
    {
        string path = Path.Combine(_dir, "model.onnx");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", "resnet.onnx"), path);
        using var m = ModelSpec.Parse("mlp:64-16-10:relu").Build(0);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, path));
        Assert.Contains("is an ONNX model, not a weights file", e.Message);
    }

    [Theory]
    [InlineData("tutorial.pt")]     // {"epoch", "model_state_dict", "optimizer_state_dict", "loss"}
    [InlineData("ddp.pt")]          // DataParallel's "module." names
    [InlineData("lightning.ckpt")]  // "state_dict": {"model.*", "criterion.weight"}, optimizer states in a list
    [InlineData("compiled.pt")]     // "model_state_dict": {"_orig_mod.*"}
    public void A_checkpoint_as_pytorch_users_save_it_gives_pytorchs_logits(string file)
    {
        // tests/fixtures/checkpoints/make_checkpoints.py: PyTorch's logits of its mlp:4-8-3:relu on input.npy.
        string dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "checkpoints");
        var spec = ModelSpec.Parse("mlp:4-8-3:relu");
        Assert.Equal(3, ModelSpec.Parse("mlp:4-8-10:relu").WithClassesFrom(Path.Combine(dir, file)).Outputs);
        using var m = spec.Build(7);
        Weights.Load(m, Path.Combine(dir, file));
        var input = Npy.ReadMatrix(Path.Combine(dir, "input.npy"));
        var expected = Npy.ReadMatrix(Path.Combine(dir, "logits.npy"));
        m.eval();
        using var noGrad = torch.no_grad();
        using var output = m.call(torch.tensor(input.Data, [input.Rows, input.Cols]));
        var got = output.data<float>().ToArray();
        Assert.Equal(expected.Data.Length, got.Length);
        for (int i = 0; i < got.Length; i++) Assert.Equal(expected.Data[i], got[i], 1e-5f);
    }

    [Fact]
    public void A_checkpoint_holding_the_model_twice_is_refused_naming_both()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fixtures", "checkpoints", "ema.pt");
        using var m = ModelSpec.Parse("mlp:4-8-3:relu").Build(0);
        var before = Weights.Export(m);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, path));
        Assert.Contains("fit the model under 2 prefixes ('model.', 'model_ema.')", e.Message);
        Assert.Contains("torch.save(checkpoint[\"model\"], \"model.pt\")", e.Message);
        Assert.Equal(before.Select(t => t.Data), Weights.Export(m).Select(t => t.Data)); // nothing changed
    }

    [Theory]
    [InlineData("module.", "DataParallel")]
    [InlineData("model.", "inner model")]
    public void A_state_dict_saved_from_a_wrapper_loads_without_its_prefix_and_says_so_when_it_does_not_fit(string prefix, string advice)
    {
        using var small = ModelSpec.Parse("mlp:64-16-10:relu").Build(0);
        var tensors = Weights.Export(small).Select(t => t with { Name = prefix + t.Name }).ToList();
        string path = Path.Combine(_dir, "wrapped.safetensors");
        SafeTensors.Write(path, tensors);
        using (var exact = ModelSpec.Parse("mlp:64-16-10:relu").Build(5))
        {
            Weights.Load(exact, path);
            Assert.Equal(Weights.Export(small).Select(t => t.Data), Weights.Export(exact).Select(t => t.Data));
        }
        // One tensor short: no prefix fits exactly, and the message says what the prefix is.
        SafeTensors.Write(path, tensors.Where(t => t.Name != prefix + "fc2.bias").ToList());
        using var m = ModelSpec.Parse("mlp:64-16-10:relu").Build(0);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, path));
        Assert.Contains($"every name in the file starts with '{prefix}'", e.Message);
        Assert.Contains(advice, e.Message);
        Assert.Contains($"unexpected '{prefix}fc1.weight' [16, 64]", e.Message);
        // Names that merely differ (no common wrapper prefix) get no such advice.
        var renamed = Weights.Export(small).Select(t => t with { Name = t.Name.Replace("fc", "dense", StringComparison.Ordinal) }).ToList();
        SafeTensors.Write(path, renamed);
        Assert.DoesNotContain("starts with", Assert.Throws<ProbeException>(() => Weights.Load(m, path)).Message);
    }

    [Fact]
    public void Strict_load_lists_every_problem_and_the_models_names()
    {
        using var small = ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(0);
        var tensors = Weights.Export(small).ToList();
        tensors.RemoveAll(t => t.Name == "fc2.bias");                               // missing
        tensors[0] = tensors[0] with { Shape = [64, 128], Data = new float[64 * 128] }; // wrong shape
        tensors.Add(new NamedArray("fc9.weight", [2], [1f, 2f]));                   // unexpected
        string path = Path.Combine(_dir, "bad.safetensors");
        SafeTensors.Write(path, tensors);
        using var m = ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(0);
        var before = Weights.Export(m);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, path));
        Assert.Contains("missing 'fc2.bias' [64]", e.Message);
        Assert.Contains("'fc1.weight' has shape [64, 128] in the file but [128, 64] in the model", e.Message);
        Assert.Contains("unexpected 'fc9.weight' [2]", e.Message);
        Assert.Contains("fc4.bias [10]", e.Message);
        var after = Weights.Export(m);
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i].Data, after[i].Data); // untouched
    }

    [Fact]
    public void Truncated_and_corrupt_files_fail_clearly()
    {
        var good = File.ReadAllBytes(TestNpy.Fixture("digits_mlp.safetensors"));
        using var m = ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(0);

        string truncated = Path.Combine(_dir, "t.safetensors");
        File.WriteAllBytes(truncated, good[..(good.Length - 100)]);
        Assert.Contains("run past the end", Assert.Throws<ProbeException>(() => Weights.Load(m, truncated)).Message);

        string tiny = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(tiny, good[..5]);
        Assert.Contains("fewer than the 8-byte", Assert.Throws<ProbeException>(() => Weights.Load(m, tiny)).Message);

        string hugeHeader = Path.Combine(_dir, "h.safetensors");
        var bytes = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue / 2);
        File.WriteAllBytes(hugeHeader, bytes);
        Assert.Contains("header claims", Assert.Throws<ProbeException>(() => Weights.Load(m, hugeHeader)).Message);

        string badJson = Path.Combine(_dir, "j.safetensors");
        bytes = (byte[])good.Clone();
        bytes[8] = (byte)'[';
        File.WriteAllBytes(badJson, bytes);
        Assert.Contains("not valid JSON", Assert.Throws<ProbeException>(() => Weights.Load(m, badJson)).Message);

        Assert.Contains("needs", Assert.Throws<ProbeException>(() => LoadWithHeader(m, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16)).Message);
        Assert.Contains("overlap", Assert.Throws<ProbeException>(() => LoadWithHeader(m, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16)).Message);
        Assert.Contains("dtype U16", Assert.Throws<ProbeException>(() => LoadWithHeader(m, "{\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8)).Message);
        Assert.Contains("impossibly large", Assert.Throws<ProbeException>(() => LoadWithHeader(m, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8)).Message);

        Assert.Contains("does not exist", Assert.Throws<ProbeException>(() => Weights.Load(m, Path.Combine(_dir, "none.safetensors"))).Message);
        string garbage = Path.Combine(_dir, "g.dat");
        File.WriteAllBytes(garbage, [1, 2, 3]);
        Assert.Contains("TorchSharp", Assert.Throws<ProbeException>(() => Weights.Load(m, garbage)).Message);
        string zip = Path.Combine(_dir, "model.pt");
        File.WriteAllBytes(zip, [(byte)'P', (byte)'K', 3, 4, 0, 0]);
        Assert.Contains("not a valid zip archive", Assert.Throws<ProbeException>(() => Weights.Load(m, zip)).Message);
    }

    void LoadWithHeader(nn.Module m, string json, int dataBytes)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".safetensors");
        var h = Encoding.UTF8.GetBytes(json);
        var b = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        File.WriteAllBytes(path, b);
        Weights.Load(m, path);
    }
}
