using System.Runtime.InteropServices;

namespace Probe.Native;

/// <summary>
/// Asks Linux to back a large array with transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>) before it is first
/// written: memory new to the process costs a page fault, and the kernel's zeroing, per 4 KiB page it is written to; in
/// 2 MiB pages the faults are 512 times fewer. Where the kernel's setting is <c>madvise</c> (Debian's default) nothing
/// else gives huge pages to a .NET array.
/// </summary>
/// <remarks>
/// NumPy does the same for its large arrays. Used for linear CKA's working buffers (the centred row chunk, the float32
/// products and their double accumulators, written chunk after chunk): whole <c>probe cka</c> processes at 20,000 x 1,024
/// vs 20,000 x 768 on the 2-core EPYC VM of 2026-12-01 took 0.72-0.83 s advised (median 0.745 s, 13,200 page faults)
/// against 0.78-0.82 s not (median 0.805 s, 20,200 faults), six processes each taking turns. That machine faults a 4 KiB
/// page in for about 12 µs. Tried for an in-memory capture's result arrays too and left out there: whole captures were no
/// faster. Advice only: the values and the array are unchanged, and elsewhere (another OS, huge pages off) it does nothing.
/// </remarks>
internal static class HugePages
{
    /// <summary>Arrays smaller than this are left alone (a huge page is 2 MiB).</summary>
    public const long MinimumBytes = 4L << 20;

    const int MadvHugepage = 14;

    [DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
    static extern int Madvise(IntPtr address, nuint length, int advice);

    /// <summary>
    /// Advises huge pages for the whole 4 KiB pages <paramref name="array"/> spans, when it holds at least
    /// <see cref="MinimumBytes"/> and the process runs on Linux; returns whether the kernel took the advice.
    /// </summary>
    public static unsafe bool Advise<T>(T[] array) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(array);
        long bytes = (long)array.Length * sizeof(T);
        if (!OperatingSystem.IsLinux() || bytes < MinimumBytes) return false;
        // A large array is not moved by the GC (the large object heap is not compacted unless asked), and advice on an
        // address range outlives the array either way: it only changes how the kernel backs the range.
        fixed (T* p = array)
        {
            long start = ((long)p + 4095) & ~4095L, end = ((long)p + bytes) & ~4095L;
            if (end <= start) return false;
            try { return Madvise((IntPtr)start, (nuint)(end - start), MadvHugepage) == 0; }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
        }
    }
}
