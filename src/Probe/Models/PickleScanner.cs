using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Probe.Models;

/// <summary>
/// Lists the globals (classes and functions, as <c>module.name</c>) that a Python pickle would import, without
/// unpickling anything, and checks them against the allowlist of PyTorch's <c>torch.load(weights_only=True)</c>
/// (<c>torch/_weights_only_unpickler.py</c>, <c>_get_allowed_globals</c>, PyTorch 1.13 to 2.x): ordered dicts,
/// tensors, parameters, storages, dtypes, <c>torch.Size</c>, <c>torch.device</c>, the <c>torch._utils._rebuild_*</c>
/// functions and a few builtins.
/// <para>The scan simulates the pickle machine's stack (strings tracked, other values opaque) so that
/// <c>STACK_GLOBAL</c> is resolved from the two strings really on the stack. Anything it cannot resolve (a computed
/// name, the <c>EXT</c> extension registry, an unknown opcode, a truncated stream) is refused, never guessed.</para>
/// </summary>
public static class PickleScanner
{
    /// <summary>The globals PyTorch's weights-only unpickler allows (module.name).</summary>
    public static IReadOnlySet<string> Allowed { get; } = BuildAllowed();

    /// <summary>Modules no allowlist may ever open (PyTorch's own blocklist plus process and code execution).</summary>
    static readonly string[] Dangerous = ["os", "sys", "posix", "nt", "subprocess", "builtins", "shutil", "socket", "importlib", "runpy", "pty", "code", "ctypes", "pickle", "marshal", "webbrowser", "operator", "functools", "types"];

    /// <summary>True when PyTorch's weights-only loader allows <paramref name="global"/> (module.name).</summary>
    public static bool IsAllowed(string global) => Allowed.Contains(global);

    /// <summary>True when <paramref name="global"/> belongs to a module that runs code or processes (os, sys, builtins, subprocess, ...).</summary>
    public static bool IsDangerous(string global)
    {
        foreach (var m in Dangerous)
            if (global.StartsWith(m + ".", StringComparison.Ordinal)) return true;
        return false;
    }

    static IReadOnlySet<string> BuildAllowed()
    {
        var s = new HashSet<string>(StringComparer.Ordinal)
        {
            "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
            "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device",
            "_codecs.encode", "builtins.bytearray", "builtins.set", "builtins.complex",
            "torch._tensor._rebuild_from_type_v2",
            "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
            "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
            "torch.storage.UntypedStorage", "torch.storage.TypedStorage", "torch.storage._LegacyStorage",
        };
        foreach (var f in new[] { "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor",
                     "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_sparse_tensor", "_rebuild_sparse_csr_tensor",
                     "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
                     "_rebuild_device_tensor_from_cpu_tensor" })
            s.Add("torch._utils." + f);
        foreach (var d in new[] { "float16", "float32", "float64", "bfloat16", "complex32", "complex64", "complex128",
                     "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "qint8", "quint8",
                     "qint32", "quint4x2", "quint2x4", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz",
                     "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "half", "float", "double", "long", "int", "short", "cfloat", "cdouble" })
            s.Add("torch." + d);
        for (int i = 1; i < 8; i++) { s.Add($"torch.uint{i}"); s.Add($"torch.int{i}"); }
        foreach (var t in new[] { "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool" })
        {
            foreach (var prefix in new[] { "torch.", "torch.cuda." })
                s.Add(prefix + t + "Tensor");
            foreach (var prefix in new[] { "torch.sparse.", "torch.cuda.sparse." })
                if (t != "Bool") s.Add(prefix + t + "Tensor");
        }
        foreach (var t in new[] { "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexFloat", "ComplexDouble" })
        {
            s.Add("torch." + t + "Storage");
            s.Add("torch.cuda." + t + "Storage");
        }
        foreach (var t in new[] { "QInt8", "QUInt8", "QInt32", "QUInt4x2", "QUInt2x4" }) s.Add("torch." + t + "Storage");
        return s;
    }

    /// <summary>
    /// The globals the pickle in <paramref name="data"/> names, in order of appearance (duplicates removed), scanning
    /// from <paramref name="start"/> to its STOP opcode. <paramref name="end"/> receives the offset after STOP.
    /// </summary>
    public static IReadOnlyList<string> Globals(ReadOnlySpan<byte> data, string source, int start, out int end)
    {
        var globals = new List<string>();
        var stack = new List<string?>();
        var meta = new Stack<List<string?>>();
        var memo = new Dictionary<long, string?>();
        int pos = start;
        string where = $"'{source}'";

        Exception Bad(string what) => new ProbeException($"{where} is not a pickle Probe can check: {what} at byte {pos}. Probe only loads plain PyTorch state dicts (torch.save(model.state_dict(), path)).");
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> d, long n)
        {
            if (n < 0 || n > d.Length - pos) throw Bad("a truncated argument");
            var r = d.Slice(pos, (int)n);
            pos += (int)n;
            return r;
        }
        string Line(ReadOnlySpan<byte> d)
        {
            int nl = d[pos..].IndexOf((byte)'\n');
            if (nl < 0) throw Bad("an unterminated text argument");
            var r = Encoding.UTF8.GetString(d.Slice(pos, nl));
            pos += nl + 1;
            return r;
        }
        string? Pop()
        {
            if (stack.Count == 0) throw Bad("a stack underflow");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        void PopMark()
        {
            if (meta.Count == 0) throw Bad("a missing MARK");
            stack = meta.Pop();
        }
        string? Top() => stack.Count > 0 ? stack[^1] : throw Bad("an empty stack");
        void AddGlobal(string module, string name)
        {
            // Protocol 2 pickles written by Python 3 use Python 2's module names for builtins.
            if (module == "__builtin__") module = "builtins";
            else if (module == "copy_reg") module = "copyreg";
            string g = module + "." + name;
            if (!globals.Contains(g)) globals.Add(g);
        }

        while (true)
        {
            if (pos >= data.Length) throw Bad("the end of the data before STOP");
            byte op = data[pos++];
            switch (op)
            {
                case (byte)'.': end = pos; return globals;                                    // STOP
                case 0x80: Take(data, 1); break;                                               // PROTO
                case 0x95: Take(data, 8); break;                                               // FRAME
                case (byte)'(': meta.Push(stack); stack = new List<string?>(); break;          // MARK
                case (byte)'0': if (stack.Count > 0) Pop(); else PopMark(); break;             // POP
                case (byte)'1': PopMark(); break;                                              // POP_MARK
                case (byte)'2': stack.Add(Top()); break;                                       // DUP
                // Constants.
                case (byte)'N': case 0x88: case 0x89: case (byte)')': case (byte)']': case (byte)'}': case 0x8f:
                    stack.Add(null); break;
                case (byte)'I': case (byte)'L': case (byte)'F': Line(data); stack.Add(null); break;
                case (byte)'J': Take(data, 4); stack.Add(null); break;
                case (byte)'K': Take(data, 1); stack.Add(null); break;
                case (byte)'M': Take(data, 2); stack.Add(null); break;
                case (byte)'G': Take(data, 8); stack.Add(null); break;
                case 0x8a: Take(data, Take(data, 1)[0]); stack.Add(null); break;               // LONG1
                case 0x8b: Take(data, BinaryPrimitives.ReadInt32LittleEndian(Take(data, 4))); stack.Add(null); break; // LONG4
                case (byte)'B': Take(data, BinaryPrimitives.ReadUInt32LittleEndian(Take(data, 4))); stack.Add(null); break; // BINBYTES
                case (byte)'C': Take(data, Take(data, 1)[0]); stack.Add(null); break;          // SHORT_BINBYTES
                case 0x8e: case 0x96: Take(data, checked((long)BinaryPrimitives.ReadUInt64LittleEndian(Take(data, 8)))); stack.Add(null); break; // BINBYTES8, BYTEARRAY8
                case 0x97: stack.Add(null); break;                                             // NEXT_BUFFER
                case 0x98: Top(); break;                                                       // READONLY_BUFFER
                // Strings (tracked: STACK_GLOBAL takes its names from them).
                case 0x8c: stack.Add(Encoding.UTF8.GetString(Take(data, Take(data, 1)[0]))); break; // SHORT_BINUNICODE
                case (byte)'X': stack.Add(Encoding.UTF8.GetString(Take(data, BinaryPrimitives.ReadUInt32LittleEndian(Take(data, 4))))); break;
                case 0x8d: stack.Add(Encoding.UTF8.GetString(Take(data, checked((long)BinaryPrimitives.ReadUInt64LittleEndian(Take(data, 8)))))); break;
                case (byte)'V': stack.Add(Line(data)); break;                                  // UNICODE
                case (byte)'U': stack.Add(Encoding.Latin1.GetString(Take(data, Take(data, 1)[0]))); break; // SHORT_BINSTRING
                case (byte)'T': stack.Add(Encoding.Latin1.GetString(Take(data, BinaryPrimitives.ReadInt32LittleEndian(Take(data, 4))))); break;
                case (byte)'S': stack.Add(Line(data).Trim().Trim('\'', '"')); break;            // STRING (repr)
                // Memo.
                case (byte)'p': memo[long.Parse(Line(data), CultureInfo.InvariantCulture)] = Top(); break;
                case (byte)'q': memo[Take(data, 1)[0]] = Top(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(data, 4))] = Top(); break;
                case 0x94: memo[memo.Count] = Top(); break;                                    // MEMOIZE
                case (byte)'g': stack.Add(Memo(memo, long.Parse(Line(data), CultureInfo.InvariantCulture), Bad)); break;
                case (byte)'h': stack.Add(Memo(memo, Take(data, 1)[0], Bad)); break;
                case (byte)'j': stack.Add(Memo(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(data, 4)), Bad)); break;
                // Globals.
                case (byte)'c': { string m = Line(data), n = Line(data); AddGlobal(m, n); stack.Add(null); break; } // GLOBAL
                case (byte)'i': { string m = Line(data), n = Line(data); AddGlobal(m, n); PopMark(); stack.Add(null); break; } // INST
                case 0x93:                                                                     // STACK_GLOBAL
                    {
                        string? n = Pop(), m = Pop();
                        if (m is null || n is null) throw Bad("a STACK_GLOBAL whose module or name is computed");
                        AddGlobal(m, n);
                        stack.Add(null);
                        break;
                    }
                case 0x82: case 0x83: case 0x84: throw Bad("an EXT opcode (the copyreg extension registry)");
                // Building objects.
                case (byte)'P': Line(data); stack.Add(null); break;                            // PERSID
                case (byte)'Q': Pop(); stack.Add(null); break;                                 // BINPERSID
                case (byte)'R': Pop(); Pop(); stack.Add(null); break;                          // REDUCE
                case (byte)'b': Pop(); Top(); break;                                           // BUILD
                case 0x81: Pop(); Pop(); stack.Add(null); break;                               // NEWOBJ
                case 0x92: Pop(); Pop(); Pop(); stack.Add(null); break;                        // NEWOBJ_EX
                case (byte)'o': PopMark(); stack.Add(null); break;                             // OBJ
                case (byte)'a': Pop(); Top(); break;                                           // APPEND
                case (byte)'e': case (byte)'u': case 0x90: PopMark(); Top(); break;           // APPENDS, SETITEMS, ADDITEMS
                case (byte)'s': Pop(); Pop(); Top(); break;                                    // SETITEM
                case (byte)'l': case (byte)'d': case (byte)'t': case 0x91: PopMark(); stack.Add(null); break; // LIST, DICT, TUPLE, FROZENSET
                case 0x85: Pop(); stack.Add(null); break;                                      // TUPLE1
                case 0x86: Pop(); Pop(); stack.Add(null); break;                               // TUPLE2
                case 0x87: Pop(); Pop(); Pop(); stack.Add(null); break;                        // TUPLE3
                default: pos--; throw Bad($"unknown opcode 0x{op:x2}");
            }
        }
    }

    static string? Memo(Dictionary<long, string?> memo, long key, Func<string, Exception> bad) =>
        memo.TryGetValue(key, out var v) ? v : throw bad($"a reference to memo slot {key} that was never stored");
}
