using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Probe.Native;

/// <summary>
/// Runs a small piece of work on the OpenMP threads libtorch computes with, from the thread that runs a forward pass
/// (a hook's reader).
/// </summary>
/// <remarks>
/// While a hook runs, libtorch's other OpenMP threads have nothing to do, and libgomp lets an idle thread spin for a
/// while before it sleeps: work handed to .NET's thread pool then shares a core with a spinning thread and measured
/// slower than doing it all on one thread. Handing the same work to libgomp (<c>GOMP_parallel</c>, the entry point its
/// compiled <c>#pragma omp parallel</c> regions call) runs it on those very threads, which pick it up at once. Only on
/// Linux, where libtorch's CPU build brings its own libgomp (found beside <c>libtorch_cpu.so</c> in the process's mapped
/// files); elsewhere, or when libgomp is not loaded, <see cref="Available"/> is false and callers run the work on one
/// thread. The team has no more threads than libtorch computes with (<c>torch.set_num_threads</c>), so one thread when
/// a user asked for one.
/// </remarks>
internal static unsafe class TorchThreads
{
    private static readonly delegate* unmanaged<delegate* unmanaged<void*, void>, void*, uint, uint, void> Parallel;
    private static readonly delegate* unmanaged<int> ThreadNum, NumThreads;

    /// <summary>Whether libtorch's libgomp was found in this process.</summary>
    public static bool Available { get; }

    static TorchThreads()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return;
            string? path = FindLibGomp();
            if (path == null || !NativeLibrary.TryLoad(path, out var lib)) return;
            if (!NativeLibrary.TryGetExport(lib, "GOMP_parallel", out var par)
                || !NativeLibrary.TryGetExport(lib, "omp_get_thread_num", out var num)
                || !NativeLibrary.TryGetExport(lib, "omp_get_num_threads", out var count)) return;
            Parallel = (delegate* unmanaged<delegate* unmanaged<void*, void>, void*, uint, uint, void>)par;
            ThreadNum = (delegate* unmanaged<int>)num;
            NumThreads = (delegate* unmanaged<int>)count;
            Available = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or BadImageFormatException) { }
    }

    // The libgomp mapped into this process that sits beside libtorch_cpu.so (the one libtorch's kernels use).
    private static string? FindLibGomp() => MappedBesideTorch("libgomp");

    /// <summary>
    /// The first library mapped into this process whose file name starts with <paramref name="prefix"/> and that sits
    /// in libtorch_cpu.so's folder (libtorch_cpu.so itself for that name); null off Linux or when libtorch is not loaded.
    /// </summary>
    internal static string? MappedBesideTorch(string prefix)
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        var paths = File.ReadLines(maps).Select(l => l.IndexOf('/') is int i and >= 0 ? l[i..] : "").Where(p => p.Length > 0).Distinct().ToList();
        string? torchDir = paths.Where(p => Path.GetFileName(p) == "libtorch_cpu.so").Select(Path.GetDirectoryName).FirstOrDefault();
        return torchDir == null ? null
            : paths.FirstOrDefault(p => Path.GetDirectoryName(p) == torchDir && Path.GetFileName(p).StartsWith(prefix, StringComparison.Ordinal));
    }

    /// <summary>
    /// Runs <c>work(part)</c> for every part in 0..<paramref name="parts"/>-1 on libtorch's OpenMP team (part i on
    /// thread i mod team size, so a team of one runs them all in order) and waits for all of them. Returns false, having
    /// run nothing, when the team is not <see cref="Available"/>. An exception from a part is rethrown here after every
    /// part has finished. Call it from the thread that runs the forward pass, outside libtorch's kernels.
    /// </summary>
    public static bool TryRun(int parts, Action<int> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!Available || parts <= 0) return false;
        var job = new Job(parts, work);
        var handle = GCHandle.Alloc(job);
        // No more threads than parts, nor than libtorch computes with (a user's torch.set_num_threads(1) gives one).
        uint threads = (uint)Math.Max(1, Math.Min(parts, TorchSharp.torch.get_num_threads()));
        try { Parallel(&Entry, (void*)GCHandle.ToIntPtr(handle), threads, 0); }
        finally { handle.Free(); }
        if (job.Error != null) ExceptionDispatchInfoThrow(job.Error);
        return true;
    }

    /// <summary>
    /// Runs <c>work(0)</c> .. <c>work(parts - 1)</c> on libtorch's OpenMP team where it is <see cref="Available"/>, else one
    /// after the other on this thread. Callers make the result independent of which way it ran (fixed parts, combined in a
    /// fixed order).
    /// </summary>
    public static void Run(int parts, Action<int> work)
    {
        if (TryRun(parts, work)) return;
        for (int part = 0; part < parts; part++) work(part);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ExceptionDispatchInfoThrow(Exception e) => System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();

    private sealed class Job(int parts, Action<int> work)
    {
        public readonly int Parts = parts;
        public readonly Action<int> Work = work;
        public Exception? Error;
    }

    // Every thread of the team enters here; an exception must not cross back into libgomp, so it is kept for TryRun.
    [UnmanagedCallersOnly]
    private static void Entry(void* state)
    {
        var job = (Job)GCHandle.FromIntPtr((IntPtr)state).Target!;
        try
        {
            int id = ThreadNum(), team = Math.Max(1, NumThreads());
            for (int part = id; part < job.Parts; part += team) job.Work(part);
        }
        catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
    }
}
