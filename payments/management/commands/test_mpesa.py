from .test_mpesa_stk import Command as StkCommand


class Command(StkCommand):
    help = "Alias of test_mpesa_stk: send a test STK push and report the outcome."
