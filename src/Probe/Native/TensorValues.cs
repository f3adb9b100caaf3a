using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Native;

/// <summary>
/// Copies a tensor's values into a managed array in one block copy. TorchSharp's <c>data&lt;T&gt;().ToArray()</c> visits
/// them one index at a time through a native call per step (measured 60x slower: 0.60 s against 0.01 s for 143 MB, and
/// 4 ms for one 784 x 256 weight).
/// </summary>
internal static class TensorValues
{
    /// <summary>The values of <paramref name="t"/> (any device, any layout) in row-major order; its element type must be <typeparamref name="T"/>.</summary>
    public static T[] Values<T>(this Tensor t) where T : unmanaged
    {
        using var scope = NewDisposeScope();
        var c = Contiguous<T>(t);
        return c.numel() * Marshal.SizeOf<T>() > int.MaxValue ? c.data<T>().ToArray() : MemoryMarshal.Cast<byte, T>(c.bytes).ToArray();
    }

    /// <summary>Copies the values of <paramref name="t"/> into <paramref name="destination"/> (its length the tensor's element count or more).</summary>
    public static void CopyValuesTo<T>(this Tensor t, Span<T> destination) where T : unmanaged
    {
        using var scope = NewDisposeScope();
        var c = Contiguous<T>(t);
        if (c.numel() * Marshal.SizeOf<T>() > int.MaxValue) { c.data<T>().ToArray().CopyTo(destination); return; }
        MemoryMarshal.Cast<byte, T>(c.bytes).CopyTo(destination);
    }

    static Tensor Contiguous<T>(Tensor t) where T : unmanaged
    {
        var want = typeof(T) == typeof(float) ? ScalarType.Float32 : typeof(T) == typeof(double) ? ScalarType.Float64
            : typeof(T) == typeof(long) ? ScalarType.Int64 : typeof(T) == typeof(int) ? ScalarType.Int32
            : throw new ArgumentException($"No tensor element type for {typeof(T).Name}.");
        if (t.dtype != want) throw new ArgumentException($"The tensor holds {t.dtype}, not {want}.");
        var c = t.device_type == DeviceType.CPU ? t : t.cpu();
        return c.is_contiguous() ? c : c.contiguous();
    }
}
