from django.http import HttpResponse


def index(request):
    return HttpResponse("Hello, world. django polls index under APP_HOME")
