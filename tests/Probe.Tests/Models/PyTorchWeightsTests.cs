using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

/// <summary>
/// Weights written by PyTorch 1.13 (tests/fixtures/resnet/make_resnet.py): safetensors of every dtype, PyTorch zip
/// state dicts, and the pickles Probe must refuse (torch's own weights_only loader refuses the same files, for the
/// same globals: refusals.json).
/// </summary>
public class PyTorchWeightsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-ptw-" + Guid.NewGuid().ToString("N"));

    public PyTorchWeightsTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string Fixture(string name) => ResNetTests.Fixture(name);

    /// <summary>A module holding only buffers, named and typed as given (a child for each dotted prefix).</summary>
    sealed class Buffers : nn.Module
    {
        public Buffers(IEnumerable<(string Name, long[] Shape, ScalarType Type)> buffers) : base("Buffers")
        {
            foreach (var g in buffers.GroupBy(b => b.Name.Contains('.') ? b.Name[..b.Name.IndexOf('.')] : ""))
            {
                if (g.Key.Length == 0)
                    foreach (var (name, shape, type) in g) register_buffer(name, zeros(shape, type));
                else
                    register_module(g.Key, new Buffers(g.Select(b => (b.Name[(g.Key.Length + 1)..], b.Shape, b.Type))));
            }
        }
    }

    static double[] Decode(RawTensor t) => t.DType switch
    {
        SafeTensorsDType.I64 => Enumerable.Range(0, t.Data.Length / 8).Select(i => (double)BinaryPrimitives.ReadInt64LittleEndian(t.Data.AsSpan(i * 8))).ToArray(),
        SafeTensorsDType.I32 => Enumerable.Range(0, t.Data.Length / 4).Select(i => (double)BinaryPrimitives.ReadInt32LittleEndian(t.Data.AsSpan(i * 4))).ToArray(),
        SafeTensorsDType.F64 => Enumerable.Range(0, t.Data.Length / 8).Select(i => BinaryPrimitives.ReadDoubleLittleEndian(t.Data.AsSpan(i * 8))).ToArray(),
        _ => SafeTensors.ToFloats(t).Select(f => (double)f).ToArray(),
    };

    [Fact]
    public void Every_dtype_pytorch_writes_reads_exactly_and_round_trips_byte_for_byte()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("dtypes.json")));
        var (raw, meta) = SafeTensors.ReadRaw(Fixture("dtypes.safetensors"));
        Assert.Equal("pt", meta["format"]);
        var byName = raw.ToDictionary(t => t.Name);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            var t = byName[p.Name];
            Assert.Equal(p.Value.GetProperty("dtype").GetString(), t.DType.ToString());
            Assert.Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.Shape);
            var expected = p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            if (t.DType == SafeTensorsDType.I64)
                Assert.Equal(p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetInt64()),
                    Enumerable.Range(0, t.Data.Length / 8).Select(i => BinaryPrimitives.ReadInt64LittleEndian(t.Data.AsSpan(i * 8))));
            else
                Assert.Equal(expected, Decode(t));
        }
        Assert.Equal(Enum.GetValues<SafeTensorsDType>().Order(), raw.Select(t => t.DType).Distinct().Order());

        // Into buffers of the matching dtypes, out again, written again: the same bytes PyTorch wrote.
        using var m = new Buffers(raw.Select(t => (t.Name, t.Shape, TensorDTypes.ToScalarType(t.DType))));
        Weights.Load(m, Fixture("dtypes.safetensors"));
        Assert.Equal(1234567L, m.named_buffers().Single(b => b.name == "bn.num_batches_tracked").buffer.ToInt64());
        string path = Path.Combine(_dir, "again.safetensors");
        Weights.Save(m, path);
        var back = SafeTensors.ReadRaw(path).Tensors.ToDictionary(t => t.Name);
        foreach (var t in raw)
        {
            Assert.Equal(t.DType, back[t.Name].DType);
            Assert.Equal(t.Data, back[t.Name].Data);
        }
    }

    [Fact]
    public void Float_files_load_into_buffers_of_other_types_by_conversion_like_copy_()
    {
        // PyTorch's load_state_dict copies with copy_, converting to the model tensor's type.
        string path = Path.Combine(_dir, "f.safetensors");
        SafeTensors.Write(path, [new NamedArray("n", [2], [3f, 4f])]);
        using var m = new Buffers([("n", [2L], ScalarType.Int64)]);
        Weights.Load(m, path);
        Assert.Equal([3L, 4L], m.named_buffers().Single().buffer.data<long>().ToArray());
    }

    [Fact]
    public void Pytorch_state_dict_is_read_with_its_dtypes_and_only_allowed_globals()
    {
        var tensors = PyTorchCheckpoint.Read(Fixture("resnet18_w4.pt"));
        var st = SafeTensors.ReadRaw(Fixture("resnet18_w4.safetensors")).Tensors.ToDictionary(t => t.Name);
        Assert.Equal(st.Keys.Order(StringComparer.Ordinal), tensors.Select(t => t.Name));
        foreach (var t in tensors)
        {
            Assert.Equal(st[t.Name].DType, t.DType);
            Assert.Equal(st[t.Name].Shape, t.Shape);
            Assert.Equal(st[t.Name].Data, t.Data);
        }
        using var zip = ZipFile.OpenRead(Fixture("resnet18_w4.pt"));
        var pkl = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
        using var s = pkl.Open();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        var globals = PickleScanner.Globals(ms.ToArray(), "data.pkl", 0, out _);
        Assert.Contains("collections.OrderedDict", globals);
        Assert.Contains("torch._utils._rebuild_tensor_v2", globals);
        Assert.Contains("torch.LongStorage", globals);
        Assert.All(globals, g => Assert.True(PickleScanner.IsAllowed(g), g));
    }

    [Fact]
    public void A_pickle_naming_os_system_is_refused_without_unpickling()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("refusals.json")));
        Assert.Contains("os.system", doc.RootElement.GetProperty("malicious.pt").GetString()); // torch refuses it too
        using var m = ModelSpec.Parse("resnet:18:w4:c5:32x32").Build(0);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("malicious.pt")));
        Assert.Contains("Refusing to load", e.Message);
        Assert.Contains("os.system", e.Message);
        Assert.Contains("weights_only=True", e.Message);
        Assert.Contains("torch.save(model.state_dict()", e.Message);
        Assert.Throws<ProbeException>(() => ModelSpec.Parse("resnet:18:w4:32x32").WithClassesFrom(Fixture("malicious.pt")));
    }

    /// <summary>
    /// A state dict whose tensors are views (a transposed weight, a bias sharing its storage; tests/fixtures/resnet/
    /// make_views.py, read back by torch.load) is refused, saying to save contiguous copies: saving the same state dict
    /// again would not help.
    /// </summary>
    [Fact]
    public void A_state_dict_of_views_is_refused_saying_to_save_contiguous_copies()
    {
        using var m = torch.nn.Linear(2, 3);
        var before = m.weight!.data<float>().ToArray();
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("views.pt")));
        Assert.Contains("v.contiguous().clone()", e.Message);
        Assert.Equal(before, m.weight!.data<float>().ToArray()); // nothing loaded
    }

    [Fact]
    public void A_whole_pickled_model_and_the_legacy_format_say_how_to_resave()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("refusals.json")));
        Assert.Contains("torch.nn.modules.container.Sequential", doc.RootElement.GetProperty("whole_model.pt").GetString());
        using var m = nn.Sequential(("0", (nn.Module<Tensor, Tensor>)nn.Conv2d(1, 2, 1)), ("1", nn.BatchNorm2d(2)));
        var whole = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("whole_model.pt")));
        Assert.Contains("whole pickled model", whole.Message);
        Assert.Contains("torch.nn.modules.container.Sequential", whole.Message);
        Assert.Contains("torch.save(model.state_dict(), \"model.pt\")", whole.Message);
        var legacy = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("legacy.pt")));
        Assert.Contains("legacy (non-zip) format", legacy.Message);
        Assert.Contains("torch.save(torch.load(\"legacy.pt\"), \"model.pt\")", legacy.Message);
    }

    static byte[] Pickle(params object[] parts)
    {
        var b = new List<byte>();
        foreach (var p in parts)
        {
            if (p is byte x) b.Add(x);
            else if (p is string s) { var u = Encoding.UTF8.GetBytes(s); b.Add(0x8c); b.Add((byte)u.Length); b.AddRange(u); } // SHORT_BINUNICODE
            else if (p is byte[] raw) b.AddRange(raw);
        }
        return b.ToArray();
    }

    [Fact]
    public void Stack_global_is_resolved_from_the_real_stack()
    {
        // Protocol 4 as Python writes it: 'collections' 'OrderedDict' STACK_GLOBAL EMPTY_TUPLE REDUCE STOP.
        var ok = Pickle((byte)0x80, (byte)4, "collections", (byte)0x94, "OrderedDict", (byte)0x94, (byte)0x93, (byte)')', (byte)'R', (byte)'.');
        Assert.Equal(["collections.OrderedDict"], PickleScanner.Globals(ok, "ok", 0, out int end));
        Assert.Equal(ok.Length, end);
        // Push 'os' 'system', then 'torch' 'Size', POP POP: STACK_GLOBAL takes os.system, not torch.Size.
        var tricky = Pickle((byte)0x80, (byte)4, "os", "system", "torch", "Size", (byte)'0', (byte)'0', (byte)0x93, (byte)'.');
        Assert.Equal(["os.system"], PickleScanner.Globals(tricky, "tricky", 0, out _));
        // Memoised names come back through BINGET.
        var memo = Pickle((byte)0x80, (byte)4, "posix", (byte)'q', (byte)7, (byte)'0', (byte)'h', (byte)7, "system", (byte)0x93, (byte)'.');
        Assert.Equal(["posix.system"], PickleScanner.Globals(memo, "memo", 0, out _));
        // A computed name, the extension registry, an unknown opcode and a truncation are refused.
        var computed = Pickle((byte)0x80, (byte)4, (byte)'N', "system", (byte)0x93, (byte)'.');
        Assert.Contains("computed", Assert.Throws<ProbeException>(() => PickleScanner.Globals(computed, "c", 0, out _)).Message);
        Assert.Contains("EXT", Assert.Throws<ProbeException>(() => PickleScanner.Globals(new byte[] { 0x80, 2, 0x82, 1, (byte)'.' }, "e", 0, out _)).Message);
        Assert.Contains("unknown opcode 0xff", Assert.Throws<ProbeException>(() => PickleScanner.Globals(new byte[] { 0x80, 2, 0xff }, "u", 0, out _)).Message);
        Assert.Contains("truncated", Assert.Throws<ProbeException>(() => PickleScanner.Globals(new byte[] { 0x80, 2, (byte)'X', 50, 0, 0, 0, 1 }, "t", 0, out _)).Message);
        // Python 2 builtin names (protocol 2) map to builtins.
        byte[] py2 = [0x80, 2, .. Encoding.ASCII.GetBytes("c__builtin__\neval\n.")];
        Assert.Equal(["builtins.eval"], PickleScanner.Globals(py2, "py2", 0, out _));
        Assert.False(PickleScanner.IsAllowed("builtins.eval"));
        Assert.True(PickleScanner.IsAllowed("builtins.set"));
    }

    [Fact]
    public void A_stack_global_trick_inside_a_checkpoint_is_refused()
    {
        string path = Path.Combine(_dir, "trick.pt");
        using (var z = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using var s = z.CreateEntry("trick/data.pkl").Open();
            s.Write(Pickle((byte)0x80, (byte)4, "os", "system", "torch", "Size", (byte)'0', (byte)'0', (byte)0x93, "echo x", (byte)0x85, (byte)'R', (byte)'.'));
        }
        using var m = nn.Linear(2, 2);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, path));
        Assert.Contains("os.system", e.Message);
    }

    [Fact]
    public void Pt_mismatches_are_all_listed()
    {
        using var m = ModelSpec.Parse("mlp:4-3-2").Build(0);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("resnet18_w4.pt")));
        Assert.Contains("missing 'fc1.weight' [3, 4]", e.Message);
        Assert.Contains("missing 'fc2.bias' [2]", e.Message);
        Assert.Contains("unexpected 'layer4.1.bn2.num_batches_tracked' []", e.Message);
        Assert.Contains("unexpected 'conv1.weight' [4, 3, 7, 7]", e.Message);
    }

    [Fact]
    public void Inconsistent_shards_are_reported()
    {
        string dir = Path.Combine(_dir, "sharded");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Fixture("sharded"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string index = Path.Combine(dir, "model.safetensors.index.json");
        string text = File.ReadAllText(index);
        // Point conv1.weight (in shard 1) at shard 2.
        File.WriteAllText(index, text.Replace("\"conv1.weight\": \"model-00001-of-00002.safetensors\"", "\"conv1.weight\": \"model-00002-of-00002.safetensors\""));
        using var m = ModelSpec.Parse("resnet:18:w4:c5:32x32").Build(0);
        var e = Assert.Throws<ProbeException>(() => Weights.Load(m, index));
        Assert.Contains("'conv1.weight' is mapped to 'model-00002-of-00002.safetensors', which does not hold it", e.Message);
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        Assert.Contains("shard 'model-00002-of-00002.safetensors' does not exist", Assert.Throws<ProbeException>(() => Weights.Load(m, dir)).Message);
        File.WriteAllText(index, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
        Assert.Contains("not a file name in the index's folder", Assert.Throws<ProbeException>(() => Weights.Load(m, index)).Message);
    }
}
